from django.contrib import admin, messages

from events.types import PERSONAL_FIELDS, USER_CATALOGUE_FIELDS
from hr_monolith.people import services
from hr_monolith.people.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = (*PERSONAL_FIELDS, *USER_CATALOGUE_FIELDS, "is_active", "version")
    list_filter = ("is_active", *USER_CATALOGUE_FIELDS)
    search_fields = PERSONAL_FIELDS
    readonly_fields = ("id", "version", "is_active", "created_at", "updated_at")
    list_select_related = ("department", "position", "location")
    actions = ["deactivate", "reactivate"]

    def save_model(self, request, obj, form, change):
        # Through the services, so every change gets its version and outbox row.
        data = {
            name: form.cleaned_data[name] for name in services.UPDATABLE_FIELDS if name in form.cleaned_data
        }
        if change:
            saved = services.user_update(
                user_id=obj.pk, data={k: data[k] for k in form.changed_data if k in data}
            )
        else:
            saved = services.user_create(**data)
        obj.pk, obj.version = saved.pk, saved.version

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Erasing needs `delete_user` only: what goes with the person (their resource grants,
        # read-only in admin) is removed by `user_erase`, which writes the events.
        perms_needed = {name for name in perms_needed if name == self.opts.verbose_name}
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.user_erase(user_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for user_id in queryset.values_list("pk", flat=True):
            services.user_erase(user_id=user_id)

    @admin.action(description="Deactivate selected employees")
    def deactivate(self, request, queryset):
        for user_id in queryset.values_list("pk", flat=True):
            services.user_deactivate(user_id=user_id)
        messages.success(request, f"Deactivated {queryset.count()} employees.")

    @admin.action(description="Reactivate selected employees")
    def reactivate(self, request, queryset):
        for user_id in queryset.values_list("pk", flat=True):
            services.user_reactivate(user_id=user_id)
        messages.success(request, f"Reactivated {queryset.count()} employees.")
