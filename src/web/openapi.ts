/** The admin API's OpenAPI 3.1 document, served at /api/v1/openapi.json. */
export function openApiDocument(): Record<string, unknown> {
  return { openapi: "3.1.0", info: { title: "Shomei admin API", version: "1" }, paths: {} };
}
