// Building the page: `h` makes an element with attributes, listeners and children.

type Attr = string | number | boolean | null | undefined | EventListener | ((e: never) => unknown);
type Kid = Node | string | number | null | undefined | false | Kid[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...kids: Kid[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, String(v));
  }
  const add = (kid: Kid) => {
    if (Array.isArray(kid)) kid.forEach(add);
    else if (kid instanceof Node) el.append(kid);
    else if (kid != null && kid !== false) el.append(String(kid));
  };
  kids.forEach(add);
  return el;
}

export function $<E extends Element = HTMLElement>(sel: string, root: ParentNode = document): E {
  const el = root.querySelector<E>(sel);
  if (!el) throw new Error(`missing ${sel}`);
  return el;
}

export function toast(msg: string, cls = ""): void {
  const t = h("div", { class: cls }, msg);
  $("#toast").append(t);
  setTimeout(() => t.remove(), 5000);
}

/** Shows `text` in a form's message line, as good news or as an error. */
export function say(el: HTMLElement, cls: "ok" | "error", text: string): void {
  el.className = cls;
  el.textContent = text;
}

/** The value of a form's field as trimmed text. */
export const field = (form: HTMLFormElement, name: string): string => String(new FormData(form).get(name) ?? "").trim();
