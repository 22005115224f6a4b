from django.urls import path

from apps.store import views

app_name = "store"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
]
