// Shared by the upload and gallery pages: who is acting (the remembered
// user id, or a bearer token), the server's limits (config.json, written by
// the bootstrap from the same settings the upload function enforces), and
// error wording for people.

const USER_KEY = "avatars.user_id";
/** Where an application that embeds the pages puts the user's access
 *  token (a JWT) for `AUTH_MODE=jwt` or `authorizer`: sessionStorage, so it
 *  lives as long as the tab and is never sent anywhere but the API. */
export const TOKEN_KEY = "avatars.token";

/** A user id per the contract: 1–64 characters of [A-Za-z0-9._@-]. */
export const USER_ID = /^[A-Za-z0-9._@-]{1,64}$/;

export function rememberedUser() {
  try {
    return localStorage.getItem(USER_KEY) || "";
  } catch {
    return "";
  }
}

export function rememberUser(id) {
  try {
    localStorage.setItem(USER_KEY, id);
  } catch {
    // Private mode or storage disabled: the field still works.
  }
}

export function rememberedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function rememberToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the field still works for this page.
  }
}

/** The contract's limits, used until config.json has answered. */
export const DEFAULT_CONFIG = Object.freeze({
  max_upload_bytes: 10 * 1024 * 1024,
  inline_upload_bytes: 4 * 1024 * 1024,
  max_pixels: 50_000_000,
  mime_types: ["image/jpeg", "image/png", "image/webp"],
  sizes: ["100x100", "300x300", "1200x1200"],
  auth: { mode: "header", user_claim: "sub" },
});

/** Whether the service takes a bearer token (jwt, authorizer) rather than
 *  the X-User-ID header. */
export function usesTokens(config) {
  return config.auth.mode !== "header";
}

/**
 * The user a JWT names (its `claim`), read without verifying it: only to
 * show whose gallery this is. The server verifies every token it acts on.
 */
export function tokenUser(token, claim) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = payload + "=".repeat((4 - (payload.length % 4)) % 4);
    const value = JSON.parse(atob(padded))[claim];
    return typeof value === "string" && USER_ID.test(value) ? value : "";
  } catch {
    return "";
  }
}

/**
 * Who acts on this page, and the headers that say so to the API: the
 * bearer token in the token modes, else `X-User-ID: user`.
 */
export function identity(config, { user = rememberedUser(), token = rememberedToken() } = {}) {
  if (usesTokens(config)) {
    return {
      user: tokenUser(token, config.auth.user_claim),
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    };
  }
  return { user, headers: user ? { "X-User-ID": user } : {} };
}

/** The server's limits (config.json), or the defaults when it is unreachable. */
export async function loadConfig() {
  try {
    const response = await fetch("/web/config.json", { cache: "no-cache" });
    if (!response.ok) return DEFAULT_CONFIG;
    const loaded = await response.json();
    const config = { ...DEFAULT_CONFIG, ...loaded, auth: { ...DEFAULT_CONFIG.auth, ...(loaded.auth || {}) } };
    acceptedTypes = config.mime_types;
    return config;
  } catch {
    return DEFAULT_CONFIG;
  }
}

/** Marks the page as wired up (`<html data-ready>`), for tests and styles. */
export function markReady() {
  document.documentElement.dataset.ready = "true";
}

/** `n` bytes as a person says it: 10 MiB, 512 KiB, 12 bytes. */
export function humanBytes(n) {
  const trim = (v) => v.toFixed(1).replace(/\.0$/, "");
  if (n >= 1024 * 1024) return `${trim(n / (1024 * 1024))} MiB`;
  if (n >= 1024) return `${trim(n / 1024)} KiB`;
  return `${n} bytes`;
}

/**
 * The format of a file from its first bytes, as the server decides it
 * (magic bytes, never the name or the browser's type): "jpeg", "png",
 * "webp", or null.
 */
export async function sniffFormat(file) {
  const head = new Uint8Array(await file.slice(0, 64).arrayBuffer());
  const starts = (bytes, at = 0) => bytes.every((b, i) => head[at + i] === b);
  if (starts([0xff, 0xd8, 0xff])) return "jpeg";
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return "webp";
  return heifFormat(head);
}

const HEVC_BRANDS = ["heic", "heix", "heim", "heis", "hevc", "hevx"];
const AV1_BRANDS = ["avif", "avis"];
const GENERIC_BRANDS = ["mif1", "msf1"];

/** "heic" or "avif" from a HEIF file's leading `ftyp` box (its major brand,
 *  then its compatible ones, AV1 first), as the server sniffs it
 *  (pipeline/src/heif.rs); null for anything else. */
function heifFormat(head) {
  const text = (at) => String.fromCharCode(...head.subarray(at, at + 4));
  if (head.length < 16 || text(4) !== "ftyp") return null;
  const size = new DataView(head.buffer).getUint32(0);
  const end = Math.min(Math.max(size, 16), head.length);
  const major = text(8);
  const compatible = [];
  for (let at = 16; at + 4 <= end; at += 4) compatible.push(text(at));
  if (AV1_BRANDS.includes(major)) return "avif";
  if (HEVC_BRANDS.includes(major)) return "heic";
  if (compatible.some((b) => AV1_BRANDS.includes(b))) return "avif";
  if (GENERIC_BRANDS.includes(major) || compatible.some((b) => HEVC_BRANDS.includes(b) || GENERIC_BRANDS.includes(b))) {
    return "heic";
  }
  return null;
}

const FORMAT_NAMES = { "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/heic": "HEIC", "image/avif": "AVIF" };
let acceptedTypes = DEFAULT_CONFIG.mime_types;

/** The accepted formats in words: "JPEG, PNG, WebP, HEIC or AVIF". */
function acceptedNames() {
  const names = acceptedTypes.map((t) => FORMAT_NAMES[t] || t);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}` : names.join("");
}

/** A sentence for a person from an API error body and status. */
export function describeError(status, body) {
  const error = body && body.error;
  switch (error) {
    case "Invalid file format":
      return `This file is not a ${acceptedNames()} image; choose one of those.`;
    case "File too large":
      return `The file is larger than the limit of ${humanBytes(body.max_size)}.`;
    case "Image dimensions too large":
      return `The picture has too many pixels; the limit is ${(body.max_pixels / 1e6).toFixed(0)} megapixels.`;
    case "Invalid image":
      return "This picture could not be read; the file may be damaged or incomplete.";
    case "Unauthorized":
      if (body.details && /token/i.test(body.details)) {
        return "Your access token is missing, expired or not accepted; sign in again.";
      }
      return "Enter your user id first.";
    case "Rate limited":
      return `You have uploaded a lot in a short time; try again in ${body.retry_after} seconds.`;
    case "Too many avatars":
      return `You keep ${body.max_avatars} avatars already; delete one in your gallery first.`;
    case "Image too large to process":
      return "This picture is too large for the service to process; choose a smaller one.";
    case "Invalid user id":
      return "The user id may only use letters, digits, dots, underscores, @ or hyphens (1–64 characters).";
    case "Forbidden":
      return "You can only delete your own avatars.";
    case "Avatar not found":
      return "This avatar no longer exists.";
    default:
      if (status === 503 || status === 502 || status === 504) {
        return "The service is unavailable right now; try again in a moment.";
      }
      if (error) return body.details ? `${error}: ${body.details}.` : `${error}.`;
      return `The server answered ${status}; try again in a moment.`;
  }
}

/** Parses a JSON error body, tolerating anything else. */
export function parseBody(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
