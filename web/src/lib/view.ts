// Screens: each is a function that fills the main element; what it starts (timers,
// listeners) it hands to `leave`, undone when another screen replaces it.

export type Screen = (root: HTMLElement) => Promise<void>;

let undo: Array<() => void> = [];

/** Runs `fn` when the current screen is left. */
export const leave = (fn: () => void): void => {
  undo.push(fn);
};

export function leaveAll(): void {
  undo.forEach((fn) => fn());
  undo = [];
}

export function go(name: string): void {
  location.hash = `#/${name}`;
}

/** The trade form's pair, kept while the page lives. */
export const remembered = { pair: "BTC/USD" };
