// /docs: Swagger UI over /openapi.json. Its "Try it out" sends the web app's session (the
// bearer token the app keeps) unless the reader authorized with another token.
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-es-bundle.js";
import "swagger-ui-dist/swagger-ui.css";
import "./docs.css";
import type { SwaggerRequest } from "swagger-ui-dist";
import { session } from "./lib/api";

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger",
  // Deep links put a link inside each operation's toggle button (nested controls, which
  // screen readers cannot reach).
  deepLinking: false,
  // No badge from validator.swagger.io: this page talks to its own origin only.
  validatorUrl: null,
  // Plain code blocks: the highlighter's themes colour tokens below WCAG AA contrast.
  syntaxHighlight: { activated: false },
  requestInterceptor: (req: SwaggerRequest) => {
    const headers: Record<string, string> = (req.headers ??= {});
    const given = Object.keys(headers).some((k) => k.toLowerCase() === "authorization");
    if (!given && session) headers.Authorization = `Bearer ${session.access}`;
    return req;
  },
});

// Swagger UI's code blocks scroll sideways: each gets a tab stop so a keyboard can scroll it.
new MutationObserver(() => {
  document.querySelectorAll<HTMLElement>(".curl, .microlight, pre:not([tabindex])").forEach((el) => {
    if (!el.hasAttribute("tabindex")) el.tabIndex = 0;
  });
}).observe(document.body, { childList: true, subtree: true });
