// The interactive API documentation: Swagger UI (npm's swagger-ui-dist,
// vendored as swagger-ui-bundle.js) on the service's own OpenAPI document.
// "Try it out" calls this origin; with AUTH_MODE=header it sends the
// X-User-ID the reader types under Authorize, with jwt a bearer token.
// No validator badge: it would send the document to a third party.
/* global SwaggerUIBundle */
import { markReady } from "./common.js";

window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  onComplete: markReady,
});
