"""Give the API's error shape to the answers Django makes before ninja sees a request."""

from django.http import JsonResponse


class ApiErrorShapeMiddleware:
    """Under /api/, Django itself answers an unknown path (404) and a wrong method (405) with
    HTML or an empty body; turn those into ``{"error": {"code", "message", "details"}}``."""

    CODES = {404: ("not_found", "no such endpoint: see /api/docs"), 405: ("method_not_allowed", "method not allowed")}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code in self.CODES
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = self.CODES[response.status_code]
            allowed = response.get("Allow")
            if allowed:
                message = f"{request.method} is not allowed here; use {allowed}"
            shaped = JsonResponse(
                {"error": {"code": code, "message": message, "details": {"path": request.path}}},
                status=response.status_code,
            )
            if allowed:
                shaped["Allow"] = allowed
            return shaped
        return response
