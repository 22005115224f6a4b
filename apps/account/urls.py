"""The customer account (web role only): sign-in, password links, orders, licenses, downloads."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from apps.account import forms, views

app_name = "account"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("downloads/", views.downloads, name="downloads"),
    path("licenses/<int:license_id>/", views.license_detail, name="license"),
    path("licenses/<int:license_id>/key/", views.license_key, name="license-key"),
    path(
        "licenses/<int:license_id>/deactivate/",
        views.license_deactivate,
        name="license-deactivate",
    ),
    path("licenses/<int:license_id>/renew/", views.license_renew, name="license-renew"),
    path("licenses/<int:license_id>/upgrade/", views.license_upgrade, name="license-upgrade"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="account/login.html",
            authentication_form=forms.AccountLoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        views.AccountPasswordResetView.as_view(
            template_name="account/password_reset.html",
            form_class=forms.AccountPasswordResetForm,
            email_template_name="account/password_reset_email.txt",
            subject_template_name="account/password_reset_subject.txt",
            success_url=reverse_lazy("account:password-reset-done"),
        ),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="account/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="account/password_reset_confirm.html",
            success_url=reverse_lazy("account:password-reset-complete"),
            post_reset_login=True,
            # Signed in with the model backend: axes' backend only guards authenticate().
            post_reset_login_backend="django.contrib.auth.backends.ModelBackend",
        ),
        name="password-reset-confirm",
    ),
    path(
        "password/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="account/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
]
