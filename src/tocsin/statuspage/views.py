"""Public status page views: serve the snapshot's bytes; subscribe and unsubscribe forms.

No login, no session. The page, the JSON and the feeds are never rendered here: they come
from the snapshot (see ``snapshot.py``). The forms are CSRF-exempt on purpose: there is no
session to ride on, the page is cached and exported as static files (no per-visitor token),
and double opt-in means a forged subscription mails a confirmation and nothing more.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.statuspage import services, serving
from tocsin.statuspage.snapshot import cache


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def site_file(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """Any page, feed or JSON document of the snapshot."""
    site = cache.current()
    file = site.get(path) if site else None
    if site is None or file is None:
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    is_api = path.startswith("api/")
    if request.method == "OPTIONS":
        return _preflight()
    body, gzipped = serving.representation(file, request.headers.get("Accept-Encoding", ""))
    if serving.not_modified(
        site,
        file,
        request.headers.get("If-None-Match", ""),
        request.headers.get("If-Modified-Since", ""),
    ):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body)
    for name, value in serving.headers(site, file, is_api=is_api, gzipped=gzipped):
        response.headers[name] = value
    if response.status_code == 304:
        del response.headers["Content-Type"]
        response.headers.pop("Content-Encoding", None)
    return response


def _preflight() -> HttpResponse:
    response = HttpResponse(status=204)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


@csrf_exempt
@require_POST
def subscribe(request: HttpRequest) -> HttpResponse:
    """Start a subscription: a confirmation mail goes out; the same answer for every address."""
    email = request.POST.get("email", "").strip()
    try:
        validate_email(email)
    except ValidationError:
        return render(
            request,
            "statuspage/message.html",
            {
                "title": "Invalid address",
                "text": "Please go back and enter a valid e-mail address.",
            },
            status=400,
        )
    services.subscriber_subscribe(email=email)
    return render(
        request,
        "statuspage/message.html",
        {
            "title": "Check your inbox",
            "text": f"We sent a confirmation link to {email}. Updates start once you follow it.",
        },
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links); POST confirms."""
    if request.method == "GET":
        return render(request, "statuspage/confirm.html", {"action": "confirm"})
    subscriber = services.subscriber_confirm(token=token)
    if subscriber is None:
        return _invalid_link()
    return render(
        request,
        "statuspage/message.html",
        {"title": "Subscribed", "text": f"{subscriber.email} will receive status updates."},
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation and changes nothing; POST (RFC 8058 one-click too) ends it."""
    if request.method == "GET":
        subscriber = services.subscriber_from_unsubscribe_token(token=token)
        if subscriber is None:
            return _invalid_link()
        return render(
            request, "statuspage/confirm.html", {"action": "unsubscribe", "email": subscriber.email}
        )
    subscriber = services.subscriber_unsubscribe(token=token)
    if subscriber is None:
        return _invalid_link()
    return render(
        request,
        "statuspage/message.html",
        {"title": "Unsubscribed", "text": f"{subscriber.email} will receive no more updates."},
    )


def _invalid_link() -> HttpResponse:
    context = {"title": "Link not valid", "text": "This link has expired or was already used."}
    return HttpResponse(render_to_string("statuspage/message.html", context), status=404)
