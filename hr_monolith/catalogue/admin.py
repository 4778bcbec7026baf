from django.contrib import admin

from hr_monolith.catalogue import services
from hr_monolith.catalogue.models import Department, Location, Position


class CatalogueEntryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "version", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = ("version", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The code is the entry's identity in events: fixed once created.
        return (*self.readonly_fields, "code") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # Through the services, so the change reaches the outbox.
        if change:
            saved = services.catalogue_entry_update(kind=obj.kind, code=obj.code, name=obj.name)
        else:
            saved = services.catalogue_entry_create(kind=obj.kind, code=obj.code, name=obj.name)
        obj.pk, obj.version = saved.pk, saved.version

    def has_delete_permission(self, request, obj=None):
        return False


for model in (Department, Position, Location):
    admin.site.register(model, CatalogueEntryAdmin)
