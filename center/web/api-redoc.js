// The API's reference (ReDoc, served by the center itself: no CDN, no web font, no inline script).
"use strict";

Redoc.init("/api/openapi.json", { disableSearch: true, hideDownloadButton: false } /* search runs in a blob: worker: not under the CSP */, document.getElementById("redoc"));
