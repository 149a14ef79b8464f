from django.urls import path

from . import views

urlpatterns = [
    path("", views.UsersAndRolesView.as_view(), name="users-and-roles"),
    path("members/<int:membership_id>/role/", views.ChangeMemberRoleView.as_view(), name="member-role"),
    path("members/<int:membership_id>/remove/", views.RemoveMemberView.as_view(), name="member-remove"),
    path("roles/new/", views.RoleCreateView.as_view(), name="role-create"),
    path("roles/<int:role_id>/", views.RoleEditView.as_view(), name="role-edit"),
]
