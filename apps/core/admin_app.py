"""Django's admin app with Depot's site as its default site (Django's documented way).

Every `admin.site.register()` and `@admin.register` lands on `DepotAdminSite`, which asks staff
for a TOTP code when DEPOT_ADMIN_REQUIRE_2FA is on. INSTALLED_APPS names this class in place of
"django.contrib.admin".
"""

from django.contrib.admin.apps import AdminConfig


class DepotAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.DepotAdminSite"
