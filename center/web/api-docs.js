// The API's documentation (Swagger UI, served by the center itself: no CDN, no inline script).
"use strict";

window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // the public validator would be a call out of the park
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  // "Try it out" with the console's session cookie: changes need the console's CSRF header
  requestInterceptor: (req) => {
    req.headers["X-Requested-With"] = "parkguard";
    return req;
  },
});
