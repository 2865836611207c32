// Starts Swagger UI on this server's OpenAPI document. A file, not an inline script, so the
// page keeps the Content-Security-Policy `default-src 'self'`.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The API key goes in the Authorize dialog ("APIKey <key>" or a Bearer token).
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
