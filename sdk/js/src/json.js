// Reading fields out of JSON record values, the same way as the Rust SDK's `json`
// module and the Python SDK's, so that a plugin's config means the same in every
// language.

/** What `field` returns for a missing field when asked to, distinct from JSON `null`. */
export const MISSING = Symbol("missing");

/** A JSON pointer's array index: digits without a leading zero. */
function index(name) {
  return /^(0|[1-9][0-9]*)$/.test(name) ? Number(name) : null;
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path` in `value`, or `fallback` when there is none: a JSON pointer
 * (`/user/country`, `/items/0`) or dotted field names (`user.country`; a plain name is
 * a top-level field). */
export function field(value, path, fallback = null) {
  const pointer = path.startsWith("/");
  const parts = pointer
    ? path
        .slice(1)
        .split("/")
        .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    : path.split(".");
  for (const name of parts) {
    if (isObject(value) && Object.hasOwn(value, name)) {
      value = value[name];
    } else if (pointer && Array.isArray(value) && index(name) !== null && index(name) < value.length) {
      value = value[index(name)];
    } else {
      return fallback;
    }
  }
  return value;
}

/** A field's value as text: strings as they are, anything else as compact JSON. */
export function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}
