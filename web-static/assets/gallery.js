// The gallery page: the user's avatars from the JSON API, newest first,
// 20 at a time over the cursor. Each tile shows the 300 px thumbnail (with
// srcset for 100/300/1200), status, size and dimensions; processing tiles
// poll their metadata until they settle; the owner (the user id remembered
// by the upload page) gets a delete button with a confirmation. While a
// thumbnail loads, its tile shows the avatar's ThumbHash (a blurred
// preview carried in the JSON) painted on a canvas. Coming back to the
// page shows avatars uploaded meanwhile (and so a new current avatar)
// without a reload.
import { identity, loadConfig, humanBytes, describeError, parseBody, markReady } from "./common.js";
import { thumbHashToRGBA } from "./thumbhash.js";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);
const grid = $("grid");
const status = $("status");
const loadMore = $("load-more");
const dialog = $("confirm-delete");

const user = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
// Who is looking (the remembered user id, or the user the access token
// names): the owner gets delete buttons, sent with the same identity.
let viewer = { user: "", headers: {} };
let owner = false;
let cursor = null;

function say(text, kind = "") {
  status.className = `message ${kind}`.trim();
  status.setAttribute("role", kind === "error" ? "alert" : "status");
  status.textContent = text;
}

function imageUrl(id, size) {
  return `/api/v1/avatars/${encodeURIComponent(id)}?size=${size}`;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

/** The newest avatar that is not failed is the current one (contract, "Upload"). */
function markCurrent() {
  let found = false;
  for (const tile of grid.children) {
    const current = !found && tile.dataset.status !== "failed";
    found ||= current;
    tile.classList.toggle("current", current);
    tile.querySelector(".current-badge").hidden = !current;
  }
}

/**
 * Paints `item.thumbhash` (base64) on the tile's canvas, shown until the
 * thumbnail has loaded. A canvas, not a data: URL: the pages'
 * Content-Security-Policy allows images only from 'self' and blob:.
 */
function paintPlaceholder(tile, item) {
  const canvas = tile.querySelector("canvas.thumbhash");
  if (!item.thumbhash || canvas.dataset.painted || tile.querySelector("img").complete) return;
  try {
    const hash = Uint8Array.from(atob(item.thumbhash), (c) => c.charCodeAt(0));
    const { w, h, rgba } = thumbHashToRGBA(hash);
    canvas.width = w;
    canvas.height = h;
    const pixels = new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), w, h);
    canvas.getContext("2d").putImageData(pixels, 0, 0);
    canvas.dataset.painted = "true";
    canvas.hidden = false;
  } catch {
    // Not a ThumbHash: no placeholder, the image still loads.
  }
}

function showImage(tile, item) {
  const img = tile.querySelector("img");
  const placeholder = tile.querySelector(".placeholder");
  if (item.status === "failed") {
    img.hidden = true;
    placeholder.hidden = false;
    placeholder.textContent = "This picture could not be processed.";
    return;
  }
  placeholder.hidden = true;
  img.hidden = false;
  if (!img.getAttribute("src")) {
    img.srcset = ["100x100 100w", "300x300 300w", "1200x1200 1200w"]
      .map((s) => `${imageUrl(item.id, s.split(" ")[0])} ${s.split(" ")[1]}`)
      .join(", ");
    img.src = imageUrl(item.id, "300x300");
  }
  paintPlaceholder(tile, item);
}

function describe(tile, item) {
  tile.dataset.status = item.status;
  const badge = tile.querySelector(".status-badge");
  badge.className = `badge status-badge badge-${item.status}`;
  badge.textContent = item.status;
  const { width, height } = item.dimensions || {};
  tile.querySelector(".facts").textContent =
    `${humanBytes(item.size)} · ${width}×${height}`;
  showImage(tile, item);
}

function tileFor(item) {
  const created = new Date(item.created_at);
  const img = el("img", {
    alt: `Avatar ${item.file_name}, uploaded ${created.toLocaleString()}`,
    width: 300,
    height: 300,
    loading: "lazy",
    decoding: "async",
    sizes: "(max-width: 30rem) 45vw, 300px",
  });
  img.addEventListener("load", () => {
    tile.querySelector("canvas.thumbhash").hidden = true;
  });
  img.addEventListener("error", () => {
    img.hidden = true;
    tile.querySelector("canvas.thumbhash").hidden = true;
    const placeholder = tile.querySelector(".placeholder");
    placeholder.hidden = false;
    placeholder.textContent = "Thumbnail not available yet.";
  });
  const tile = el(
    "li",
    { class: "tile", "data-id": item.id },
    el(
      "div",
      { class: "frame" },
      el("canvas", { class: "thumbhash", hidden: true, ariaHidden: "true" }),
      img,
      el("p", { class: "placeholder", hidden: true }),
    ),
    el(
      "div",
      { class: "caption" },
      el(
        "p",
        { class: "badges" },
        el("span", { class: "badge status-badge" }),
        el("span", { class: "badge badge-current current-badge", hidden: true }, "Current"),
      ),
      el("p", { class: "name", title: item.file_name }, item.file_name),
      el("p", { class: "facts" }),
      el("p", { class: "date" }, el("time", { dateTime: item.created_at }, created.toLocaleString())),
    ),
  );
  if (owner) {
    const button = el("button", { type: "button", class: "button danger small" }, "Delete");
    button.setAttribute("aria-label", `Delete ${item.file_name}`);
    button.addEventListener("click", () => confirmDelete(tile, item, button));
    tile.querySelector(".caption").append(button);
  }
  describe(tile, item);
  return tile;
}

/** Polls a processing avatar's metadata until it is ready or failed. */
async function watch(tile, id) {
  let delay = 500;
  while (tile.isConnected && tile.dataset.status === "processing") {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.5, 5000);
    try {
      const response = await fetch(`/api/v1/avatars/${encodeURIComponent(id)}/metadata`);
      if (response.status === 404) {
        tile.remove();
        markCurrent();
        return;
      }
      if (!response.ok) continue;
      const item = await response.json();
      describe(tile, item);
      if (item.status !== "processing") {
        // The thumbnail may have failed to load while processing: retry.
        const img = tile.querySelector("img");
        if (item.status === "ready" && img.hidden) {
          img.removeAttribute("src");
          showImage(tile, item);
        }
        markCurrent();
      }
    } catch {
      // Network hiccup: keep polling.
    }
  }
}

async function confirmDelete(tile, item, button) {
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (dialog.returnValue !== "delete") {
    button.focus();
    return;
  }
  button.disabled = true;
  try {
    const response = await fetch(`/api/v1/avatars/${encodeURIComponent(item.id)}`, {
      method: "DELETE",
      headers: viewer.headers,
    });
    if (response.status === 204 || response.status === 404) {
      const next = tile.nextElementSibling || tile.previousElementSibling;
      tile.remove();
      markCurrent();
      const left = grid.children.length || cursor ? "" : " No avatars left.";
      say(`Deleted ${item.file_name}.${left}`, "success");
      (next ? next.querySelector("button") : null)?.focus();
      return;
    }
    say(describeError(response.status, parseBody(await response.text())), "error");
  } catch {
    say("The delete did not reach the server; try again.", "error");
  }
  button.disabled = false;
}

async function loadPage() {
  loadMore.disabled = true;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set("cursor", cursor);
  try {
    const response = await fetch(`/api/v1/users/${encodeURIComponent(user)}/avatars?${params}`);
    const body = parseBody(await response.text());
    if (!response.ok) {
      say(describeError(response.status, body), "error");
      return;
    }
    for (const item of body.items) {
      const tile = tileFor(item);
      grid.append(tile);
      if (item.status === "processing") watch(tile, item.id);
    }
    cursor = body.next_cursor;
    loadMore.hidden = !cursor;
    markCurrent();
    const count = grid.children.length;
    say(count ? `${count}${cursor ? "+" : ""} avatar${count === 1 ? "" : "s"}.` : "No avatars yet. Upload one from the upload page.");
  } catch {
    say("The gallery could not be loaded; check your connection and reload.", "error");
  } finally {
    loadMore.disabled = false;
  }
}

/**
 * Avatars uploaded since the first page was loaded (in another tab, or by
 * another device) go to the front, so a new current avatar shows without a
 * reload. Runs whenever the page becomes visible again.
 */
async function refreshNewest() {
  try {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const response = await fetch(`/api/v1/users/${encodeURIComponent(user)}/avatars?${params}`);
    if (!response.ok) return;
    const known = new Set([...grid.children].map((tile) => tile.dataset.id));
    const fresh = parseBody(await response.text()).items.filter((item) => !known.has(item.id));
    for (const item of fresh.reverse()) {
      const tile = tileFor(item);
      grid.prepend(tile);
      if (item.status === "processing") watch(tile, item.id);
    }
    if (fresh.length) {
      markCurrent();
      say(`${fresh.length} new avatar${fresh.length === 1 ? "" : "s"}.`);
    }
  } catch {
    // Offline for now: the next return tries again.
  }
}

async function main() {
  document.documentElement.classList.add("js");
  document.title = `${user}'s avatars`;
  $("title").textContent = `${user}'s avatars`;
  loadMore.addEventListener("click", loadPage);
  viewer = identity(await loadConfig());
  owner = viewer.user === user;
  await loadPage();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshNewest();
  });
  window.addEventListener("focus", refreshNewest);
  markReady();
}

main();
