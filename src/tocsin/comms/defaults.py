"""Built-in message templates per (channel, phase), modelled on the guides' own templates.

A configuration's ``templates`` section overrides any of them by channel and phase.
"""

from __future__ import annotations

PHASES = ("declared", "update", "identified", "monitoring", "resolved", "postmortem_scheduled")
CHANNELS = ("chat", "email", "status_page", "bridge")

_HEAD = "{{ incident.title }} ({{ incident.severity or 'no severity' }})"

DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    ("chat", "declared"): (
        "",
        """:rotating_light: INCIDENT DECLARED :rotating_light:
Severity: {{ incident.severity }}
Summary: {{ incident.title }}
Impact: {{ incident.impact or "being assessed" }}
Started: {{ incident.started_at | datetime(zone) }}

Current Status: {{ incident.phase }}
Incident Commander: {{ incident.commander or "unassigned" }}
{% if incident.tech_lead %}Technical Lead: {{ incident.tech_lead }}
{% endif %}{% if incident.bridge_url %}Bridge: {{ incident.bridge_url }}
{% endif %}
Next Update: {{ incident.next_update_due | datetime(zone) }}
Tracking: {{ incident.url }}
""",
    ),
    ("chat", "update"): (
        "",
        """:construction: INCIDENT UPDATE :construction:
Incident: {{ incident.title }}
Severity: {{ incident.severity }}
Duration: {{ incident.duration | duration }}

Current Status: {{ incident.phase }}
{% if message %}
{{ message }}
{% endif %}
Next Update: {{ incident.next_update_due | datetime(zone) }}
""",
    ),
    ("chat", "identified"): (
        "",
        """:mag: CAUSE IDENTIFIED
Incident: {{ incident.title }} ({{ incident.severity }})
{% if incident.root_cause %}Cause: {{ incident.root_cause }}
{% endif %}{% if message %}{{ message }}
{% endif %}Next Update: {{ incident.next_update_due | datetime(zone) }}
""",
    ),
    ("chat", "monitoring"): (
        "",
        """:eyes: FIX DEPLOYED, MONITORING
Incident: {{ incident.title }} ({{ incident.severity }})
{% if incident.resolution %}Fix: {{ incident.resolution }}
{% endif %}{% if message %}{{ message }}
{% endif %}Next Update: {{ incident.next_update_due | datetime(zone) }}
""",
    ),
    ("chat", "resolved"): (
        "",
        """:white_check_mark: INCIDENT RESOLVED :white_check_mark:
Incident: {{ incident.title }}
Severity: {{ incident.severity }}
Duration: {{ incident.duration | duration }}

Root Cause: {{ incident.root_cause or "under investigation" }}
Resolution: {{ incident.resolution or "-" }}

Impact Summary:
- Users affected: {{ incident.users_affected or "unknown" }}
- Error rate during incident: {{ incident.error_rate or "unknown" }}
{% if incident.postmortem_due_at %}
Follow-up:
- Post-incident review due: {{ incident.postmortem_due_at | datetime(zone) }}
{% endif %}""",
    ),
    ("chat", "postmortem_scheduled"): (
        "",
        """:memo: POST-INCIDENT REVIEW
Incident: {{ incident.title }} ({{ incident.severity }})
Review due: {{ incident.postmortem_due_at | datetime(zone) }}
{% if message %}{{ message }}
{% endif %}""",
    ),
    ("email", "declared"): (
        "[Incident] " + _HEAD,
        """We are responding to an incident.

What is happening: {{ incident.title }}
Impact: {{ incident.impact or "being assessed" }}
Started: {{ incident.started_at | datetime(zone) }}
Incident Commander: {{ incident.commander or "unassigned" }}

Next update by {{ incident.next_update_due | datetime(zone) }}.
{{ incident.url }}
""",
    ),
    ("email", "update"): (
        "[Incident update] " + _HEAD,
        """Status: {{ incident.phase }}
Duration so far: {{ incident.duration | duration }}
{% if message %}
{{ message }}
{% endif %}
Next update by {{ incident.next_update_due | datetime(zone) }}.
{{ incident.url }}
""",
    ),
    ("email", "resolved"): (
        "[Resolved] " + _HEAD,
        """The incident is resolved.

Duration: {{ incident.duration | duration }}
Root cause: {{ incident.root_cause or "under investigation" }}
Resolution: {{ incident.resolution or "-" }}
{% if incident.postmortem_due_at %}Post-incident review due {{ incident.postmortem_due_at | datetime(zone) }}.
{% endif %}""",
    ),
    ("status_page", "declared"): (
        "Investigating issues with {{ incident.service or 'our service' }}",
        """We are currently investigating reports of issues with {{ incident.service or "our service" }}.
{% if incident.impact %}{{ incident.impact }}
{% endif %}Our team is actively working to identify and resolve the issue. We will provide updates as we learn more.""",
    ),
    ("status_page", "identified"): (
        "{{ incident.service or 'Service' }} degradation - cause identified",
        """We have identified the cause of the current issues affecting {{ incident.service or "our service" }}. Our team is implementing a fix.
{% if message %}{{ message }}
{% endif %}""",
    ),
    ("status_page", "monitoring"): (
        "{{ incident.service or 'Service' }} - fix deployed, monitoring",
        """We have deployed a fix and are monitoring the systems to ensure stability. If you continue to experience issues, please contact support.""",
    ),
    ("status_page", "update"): (
        "Update: {{ incident.service or 'our service' }}",
        """{{ message or "We are continuing to work on a fix." }}""",
    ),
    ("status_page", "resolved"): (
        "{{ incident.service or 'Service' }} issues resolved",
        """The issues affecting {{ incident.service or "our service" }} have been fully resolved. All systems are operating normally.
Duration: {{ incident.duration | duration }}
We apologize for any inconvenience this may have caused.""",
    ),
    ("bridge", "declared"): (
        "Bridge: " + _HEAD,
        """An incident bridge is open for {{ incident.title }} ({{ incident.severity }}).
Join: {{ incident.bridge_url or "no bridge URL set" }}
Incident Commander: {{ incident.commander or "unassigned" }}
Agenda: current status, impact, actions, next update at {{ incident.next_update_due | datetime(zone) }}.
""",
    ),
}
