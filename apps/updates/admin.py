from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString

from apps.core.admin import scope_clean
from apps.core.errors import DomainError
from apps.core.html import html_safe
from apps.licenses.catalogue import Product
from apps.updates import services
from apps.updates.models import PublishToken, Release
from apps.updates.publishing.signing import public_key_base64, signing_key_from_base64
from apps.updates.publishing.zip_read import MAX_ZIP_BYTES

EDITABLE_RELEASE_FIELDS = ("channel", "rollout_percent", "is_published")
RELEASE_DETAIL_FIELDS = (
    "product",
    "version",
    *EDITABLE_RELEASE_FIELDS,
    "published_at",
    "zip_file",
    "sha384",
    "size",
    "requires_wp",
    "requires_php",
    "tested_up_to",
    "description_shown",
    "installation_shown",
    "changelog_shown",
    "upgrade_notice",
    "created_at",
)


class ReleaseUploadForm(forms.ModelForm):
    """Publish a release from its zip: everything else is read from the plugin inside."""

    zip = forms.FileField(
        label="Plugin zip",
        help_text="The zip WordPress installs: one folder named after the plugin's slug.",
    )
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(),
        required=False,
        help_text="Leave empty to use the product whose slug is the zip's folder name.",
    )
    rollout_percent = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=100,
        help_text="Share of licensed sites offered this release; each site's bucket is stable.",
    )

    class Meta:
        model = Release
        fields = ["zip", "product", "channel", "rollout_percent"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        upload = cleaned["zip"]
        if upload.size > MAX_ZIP_BYTES:
            self.add_error("zip", f"The zip is larger than {MAX_ZIP_BYTES // 2**20} MB.")
            return cleaned
        # Published here rather than in save_model() so that a refused zip, or storage that
        # is unreachable or does not hold the zip intact, becomes an error on this field; the
        # admin's transaction still wraps it, and the service leaves nothing behind in storage.
        try:
            release = services.release_publish_zip(
                zip_content=upload.read(),
                product=cleaned.get("product"),
                channel=cleaned["channel"],
                rollout_percent=cleaned["rollout_percent"],
            )
        except DomainError as exc:
            self.add_error("zip", exc.message)
            return cleaned
        self.instance = release
        cleaned["product"] = release.product
        return cleaned


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = [
        "product",
        "version",
        "channel",
        "rollout_percent",
        "is_published",
        "published_at",
    ]
    list_filter = ["channel", "is_published", "product"]
    search_fields = ["product__name", "product__slug", "version"]
    list_select_related = ["product"]
    change_list_template = "admin/updates/release/change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Vendors add this key to wp_trusted_keys so WordPress verifies each package.
        public_key = ""
        if settings.DEPOT_SIGNING_KEY:
            public_key = public_key_base64(signing_key_from_base64(settings.DEPOT_SIGNING_KEY))
        context = {**(extra_context or {}), "signing_public_key": public_key}
        return super().changelist_view(request, extra_context=context)

    def get_fields(self, request: HttpRequest, obj: Release | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("zip", "product", "channel", "rollout_percent")
        return RELEASE_DETAIL_FIELDS

    def get_readonly_fields(
        self, request: HttpRequest, obj: Release | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return tuple(f for f in RELEASE_DETAIL_FIELDS if f not in EDITABLE_RELEASE_FIELDS)

    def get_form(
        self, request: HttpRequest, obj: Release | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ReleaseUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    # Release text is shown as it reads on the storefront and in WordPress: sanitised HTML.
    @admin.display(description="Description")
    def description_shown(self, obj: Release) -> SafeString:
        return html_safe(obj.description)

    @admin.display(description="Installation")
    def installation_shown(self, obj: Release) -> SafeString:
        return html_safe(obj.installation)

    @admin.display(description="Changelog")
    def changelog_shown(self, obj: Release) -> SafeString:
        return html_safe(obj.changelog)

    def save_model(self, request: HttpRequest, obj: Release, form: Any, change: bool) -> None:
        if not change:
            return  # ReleaseUploadForm published it through release_publish_zip
        services.release_update(
            release=obj,
            channel=form.cleaned_data["channel"],
            rollout_percent=form.cleaned_data["rollout_percent"],
            is_published=form.cleaned_data["is_published"],
        )


class PublishTokenForm(forms.ModelForm):
    """A token says what it may publish: every product, or those chosen, never neither."""

    class Meta:
        model = PublishToken
        fields = ["name", "all_products", "products", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scope_clean(
            self,
            cleaned,
            every="the token may publish every product",
            choose="this token may publish",
        )
        return cleaned


@admin.register(PublishToken)
class PublishTokenAdmin(admin.ModelAdmin):
    form = PublishTokenForm
    list_display = ["name", "token_hint", "all_products", "is_active", "created_at"]
    list_display += ["last_used_at"]
    list_filter = ["is_active", "all_products"]
    search_fields = ["name", "token_hint"]
    filter_horizontal = ["products"]
    readonly_fields = ["token_hint", "created_at", "last_used_at"]

    def get_fields(self, request: HttpRequest, obj: PublishToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "all_products", "products")
        return (
            "name",
            "all_products",
            "products",
            "is_active",
            "token_hint",
            "created_at",
            "last_used_at",
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PublishToken]:
        return super().get_queryset(request).prefetch_related("products")

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if change:
            return super().save_form(request, form, change)
        token, secret = services.publish_token_create(
            name=form.cleaned_data["name"],
            products=list(form.cleaned_data["products"]),
            all_products=form.cleaned_data["all_products"],
        )
        # Only the hash is kept, so this message is the one time anyone sees the token.
        messages.warning(
            request,
            f"Copy the token for “{token.name}” now; it is not shown again: {secret}",
        )
        return token

    def save_model(self, request: HttpRequest, obj: PublishToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)
