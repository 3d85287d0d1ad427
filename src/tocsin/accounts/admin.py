from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from tocsin.accounts.models import ApiToken, ContactMethod, NotificationRule, Role, Team, User


class ContactMethodInline(admin.TabularInline[ContactMethod, User]):
    model = ContactMethod
    extra = 0
    fields = ["position", "name", "kind", "target", "status", "last_error"]
    readonly_fields = ["last_error"]


class NotificationRuleInline(admin.TabularInline[NotificationRule, User]):
    model = NotificationRule
    extra = 0
    fields = ["position", "after_seconds", "contact_method"]


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    ordering = ["email"]
    list_display = ["email", "name", "timezone", "is_active", "is_staff"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("name", "timezone")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "name", "password1", "password2")}),)
    inlines = [ContactMethodInline, NotificationRuleInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    filter_horizontal = ["members"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin[Role]):
    filter_horizontal = ["members"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]
