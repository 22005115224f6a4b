"""The admin's handle on the reports: a model without a table, for its entry and permission."""

from django.db import models


class Report(models.Model):
    """No rows: it gives the admin index its "Reports" entry and the `view_report` permission.

    Superusers see the reports; other staff need "reports | report | Can view report".
    """

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "report"
        verbose_name_plural = "reports"

    def __str__(self) -> str:
        return "Reports"
