// The API's reference (ReDoc, served by the center itself: no CDN, no web font, no inline script).
"use strict";

Redoc.init("/api/openapi.json", { disableSearch: false, hideDownloadButton: false }, document.getElementById("redoc"));
