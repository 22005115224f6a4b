from django.urls import path

from apps.updates import views

app_name = "updates"

urlpatterns = [
    path("", views.index, name="index"),
]
