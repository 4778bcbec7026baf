"""Who may call the monolith's API: any login reads; a write needs staff or the Django model permission.

The model permission is DRF's `DjangoModelPermissions` (POST `add`, PUT/PATCH `change`, DELETE
`delete` of the view's model), so an HR tool's account can be given exactly what it writes in the
admin's user page without making it staff. The users service's account is a plain login: it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions, IsAdminUser

if TYPE_CHECKING:  # DRF imports this module while `rest_framework.views` is still loading
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ModelPermissions(DjangoModelPermissions):
    """`DjangoModelPermissions`; a view that names no model only lets logins read (writes: staff)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not hasattr(view, "get_queryset") and getattr(view, "queryset", None) is None:
            # A new view that forgot to name its model must not fall open for writes.
            return bool(request.user and request.user.is_authenticated and request.method in SAFE_METHODS)
        return super().has_permission(request, view)


class ChangeOnPostModelPermissions(ModelPermissions):
    """For actions on an existing object sent as POST (deactivate, reactivate): they change it."""

    perms_map = {**DjangoModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


#: The monolith's default (settings): reads for any login, writes for staff or the model permission.
StaffOrModelPermissions = IsAdminUser | ModelPermissions
#: Deactivate/reactivate: staff, or the model's `change` permission.
StaffOrChangePermission = IsAdminUser | ChangeOnPostModelPermissions
