"""The customer account: sign in and out, password reset, orders, licenses, renewals, upgrades."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from apps.store import account

urlpatterns = [
    path("", account.overview, name="account"),
    path("licenses/<int:license_id>/", account.license_detail, name="license"),
    path("licenses/<int:license_id>/key/", account.license_key, name="license-key"),
    path(
        "licenses/<int:license_id>/deactivate/",
        account.license_deactivate,
        name="license-deactivate",
    ),
    path("licenses/<int:license_id>/renew/", account.license_renew, name="license-renew"),
    path("licenses/<int:license_id>/upgrade/", account.license_upgrade, name="license-upgrade"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="store/account/login.html",
            authentication_form=account.AccountLoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        account.AccountPasswordResetView.as_view(
            template_name="store/account/password_reset.html",
            form_class=account.AccountPasswordResetForm,
            email_template_name="store/account/password_reset_email.txt",
            subject_template_name="store/account/password_reset_subject.txt",
            success_url=reverse_lazy("store:password-reset-done"),
        ),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="store/account/password_reset_done.html"
        ),
        name="password-reset-done",
    ),
    path(
        "password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="store/account/password_reset_confirm.html",
            success_url=reverse_lazy("store:password-reset-complete"),
            post_reset_login=True,
            # Signed in with the model backend: axes' backend only guards authenticate().
            post_reset_login_backend="django.contrib.auth.backends.ModelBackend",
        ),
        name="password-reset-confirm",
    ),
    path(
        "password/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="store/account/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
]
