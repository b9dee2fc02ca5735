// The upload page: remembered user id, file picker and drag & drop, local
// preview, the server's checks done early (format by magic bytes, size,
// pixel budget), then an XMLHttpRequest so the progress bar shows real
// bytes sent: the multipart POST to the JSON API up to config.json's
// inline_upload_bytes, a direct upload (presigned PUT to storage) above it.
// Without this script the form still posts to /web/upload.
import {
  USER_ID, DEFAULT_CONFIG, rememberedUser, rememberUser, rememberedToken, rememberToken, usesTokens,
  identity, loadConfig, humanBytes, sniffFormat, describeError, parseBody, markReady,
} from "./common.js";
import { CropBox } from "./crop.js";

const $ = (id) => document.getElementById(id);
const form = $("upload-form");
const userInput = $("user-id");
const tokenInput = $("token");
const fileInput = $("file");
const zone = $("drop-zone");
const preview = $("preview");
const previewImg = $("preview-img");
const previewInfo = $("preview-info");
const progressBox = $("progress-box");
const progress = $("progress");
const progressText = $("progress-text");
const message = $("message");
const submit = $("submit");
const galleryLink = $("gallery-link");
const crop = new CropBox({
  frame: $("crop-frame"), img: previewImg, box: $("crop-box"), handle: $("crop-handle"),
  controls: $("crop-controls"), size: $("crop-size"), info: $("crop-info"),
});

let config = DEFAULT_CONFIG;
let chosen = null; // { file, error } once a file is picked
let previewUrl = null;
let uploading = false;

function say(text, kind = "") {
  message.className = `message ${kind}`.trim();
  message.setAttribute("role", kind === "error" ? "alert" : "status");
  message.replaceChildren(text);
}

function sayWithLink(text, href, linkText) {
  const link = document.createElement("a");
  link.href = href;
  link.textContent = linkText;
  link.id = "result-link";
  message.className = "message success";
  message.setAttribute("role", "status");
  message.replaceChildren(`${text} `, link);
}

function galleryHref(user) {
  return `/web/gallery/${encodeURIComponent(user)}`;
}

/** Who uploads: the user id field, or the user the access token names. */
function acting() {
  return identity(config, { user: userInput.value.trim(), token: tokenInput.value.trim() });
}

function showGalleryLink() {
  const { user } = acting();
  galleryLink.hidden = !USER_ID.test(user);
  if (!galleryLink.hidden) galleryLink.href = galleryHref(user);
}

/** Checks a picked file as the server will, and shows its preview. */
async function choose(file) {
  chosen = { file, format: null, error: null };
  say("");
  progressBox.hidden = true;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  preview.hidden = true;
  crop.hide();
  previewInfo.textContent = "";

  const format = await sniffFormat(file);
  chosen.format = format;
  if (file.size === 0) {
    chosen.error = "This file is empty; choose a picture.";
  } else if (!format || !config.mime_types.includes(`image/${format}`)) {
    chosen.error = describeError(400, { error: "Invalid file format" });
  } else if (file.size > config.max_upload_bytes) {
    chosen.error = `This file is ${humanBytes(file.size)}; the limit is ${humanBytes(config.max_upload_bytes)}.`;
  }
  previewInfo.textContent = `${file.name} · ${humanBytes(file.size)}${format ? ` · ${format.toUpperCase()}` : ""}`;
  if (chosen.error) {
    say(chosen.error, "error");
    return;
  }
  previewUrl = URL.createObjectURL(file);
  previewImg.src = previewUrl;
  preview.hidden = false;
  try {
    await previewImg.decode();
    const { naturalWidth: w, naturalHeight: h } = previewImg;
    previewInfo.textContent += ` · ${w}×${h}`;
    if (w * h > config.max_pixels) {
      chosen.error = `This picture is ${w}×${h}; the limit is ${(config.max_pixels / 1e6).toFixed(0)} megapixels.`;
      say(chosen.error, "error");
    } else {
      crop.show(w, h, smallestSide(config));
    }
  } catch {
    // The browser cannot show it; the server decides whether it decodes.
  }
}

/** The smallest thumbnail side (pixels): a crop may not be smaller. */
function smallestSide(cfg) {
  return Math.min(...cfg.sizes.map((s) => parseInt(s, 10)).filter((n) => n > 0));
}

/** Sends `body` with `xhr` (opened by the caller), the progress bar
 *  counting its bytes; resolves with the finished request. */
function sendWithProgress(xhr, body, size) {
  progress.max = size;
  progress.value = 0;
  progressText.textContent = `0 of ${humanBytes(size)} (0%)`;
  progressBox.hidden = false;
  xhr.upload.addEventListener("progress", (e) => {
    const total = e.lengthComputable ? e.total : size;
    progress.max = total;
    progress.value = e.loaded;
    progressText.textContent = `${humanBytes(e.loaded)} of ${humanBytes(total)} (${Math.floor((100 * e.loaded) / total)}%)`;
  });
  xhr.upload.addEventListener("load", () => {
    progress.value = progress.max;
    progressText.textContent = `${humanBytes(progress.max)} of ${humanBytes(progress.max)} (100%)`;
  });
  return new Promise((resolve) => {
    xhr.addEventListener("loadend", () => resolve(xhr));
    xhr.send(body);
  });
}

/** Up to `inline_upload_bytes`: the multipart POST, whose answer is the
 *  validated avatar. */
async function uploadInline(file, square, headers) {
  const body = new FormData();
  if (square) body.append("crop", JSON.stringify(square));
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/v1/avatars");
  for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
  xhr.setRequestHeader("Accept", "application/json");
  await sendWithProgress(xhr, body, file.size);
  if (xhr.status === 201) return { id: (parseBody(xhr.responseText) || {}).id };
  if (xhr.status === 0) return { error: "The upload did not reach the server; check your connection and try again." };
  return { error: describeError(xhr.status, parseBody(xhr.responseText)) };
}

// Headers a page may not set itself (the browser sends Content-Length of
// the body, which is the length the URL was signed for).
const BROWSER_SET = new Set(["content-length", "host"]);

/** Above `inline_upload_bytes` (a gateway such as API Gateway + Lambda
 *  carries at most 6 MB): POST /api/v1/avatars/uploads for a presigned
 *  PUT, then the file straight to storage; the thumbnail function
 *  validates it when it arrives. */
async function uploadDirect(file, format, square, headers) {
  let response;
  try {
    response = await fetch("/api/v1/avatars/uploads", {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        content_type: `image/${format}`, content_length: file.size, file_name: file.name,
        ...(square ? { crop: square } : {}),
      }),
    });
  } catch {
    return { error: "The upload did not reach the server; check your connection and try again." };
  }
  const created = parseBody(await response.text());
  if (response.status !== 201 || !created || !created.upload) {
    return { error: describeError(response.status, created) };
  }
  const { method, url, headers: signed } = created.upload;
  const xhr = new XMLHttpRequest();
  xhr.open(method, url);
  for (const [name, value] of Object.entries(signed)) {
    if (!BROWSER_SET.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
  }
  await sendWithProgress(xhr, file, file.size);
  if (xhr.status === 0) return { error: "The picture did not reach storage; check your connection and try again." };
  if (xhr.status < 200 || xhr.status >= 300) return { error: `Storage refused the picture (HTTP ${xhr.status}); try again.` };
  say("Checking the picture…");
  return checked(created.id);
}

// How long the page waits for the server to validate a direct upload
// before it lets the gallery tell (the S3 event's batch window plus a
// decode: a few seconds).
const CHECK_TIMEOUT_MS = 60_000;

/** A direct upload is `uploading` (every read a 404) until the thumbnail
 *  function has validated it; then its metadata says processing, ready or
 *  failed. Polls that, so the link leads to a gallery that shows it. */
async function checked(id) {
  const deadline = Date.now() + CHECK_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`/api/v1/avatars/${id}/metadata`, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const meta = await response.json();
        if (meta.status === "failed") return { error: describeError(400, { error: "Invalid image" }) };
        return { id };
      }
    } catch {
      // A network hiccup: ask again.
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return { id };
}

async function upload() {
  const { user, headers } = acting();
  const { file, format } = chosen;
  uploading = true;
  submit.disabled = true;
  say("Uploading…");
  const direct = file.size > config.inline_upload_bytes;
  form.dataset.uploadPath = direct ? "direct" : "inline";
  const square = crop.value();
  const result = direct
    ? await uploadDirect(file, format, square, headers)
    : await uploadInline(file, square, headers);
  uploading = false;
  submit.disabled = false;
  if (result.error) {
    say(result.error, "error");
    return;
  }
  sayWithLink("Uploaded. Your thumbnails are being made.", galleryHref(user), "See it in your gallery");
  form.dataset.avatarId = result.id || "";
  fileInput.value = "";
  chosen = null;
  crop.hide();
}

function onSubmit(event) {
  event.preventDefault();
  if (uploading) return;
  if (usesTokens(config)) {
    if (!acting().user) {
      say(tokenInput.value.trim()
        ? "This access token names no valid user; sign in again."
        : "Paste your access token first.", "error");
      tokenInput.focus();
      return;
    }
  } else if (!USER_ID.test(userInput.value.trim())) {
    const user = userInput.value.trim();
    say(describeError(400, { error: user ? "Invalid user id" : "Unauthorized" }), "error");
    userInput.focus();
    return;
  }
  if (!chosen) {
    say("Choose a picture first.", "error");
    zone.focus();
    return;
  }
  if (chosen.error) {
    say(chosen.error, "error");
    return;
  }
  upload();
}

async function main() {
  document.documentElement.classList.add("js");
  // Our checks replace the browser's bubbles; the no-JS form keeps them.
  form.noValidate = true;
  userInput.value = userInput.value || rememberedUser();
  showGalleryLink();
  userInput.addEventListener("input", () => {
    const user = userInput.value.trim();
    if (USER_ID.test(user)) rememberUser(user);
    showGalleryLink();
  });

  // The drop zone is a button for the keyboard: Enter or Space opens the
  // picker, which stays the one source of the file for the no-JS path.
  zone.tabIndex = 0;
  zone.setAttribute("role", "button");
  fileInput.tabIndex = -1;
  zone.addEventListener("click", (e) => {
    if (e.target !== fileInput) fileInput.click();
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      fileInput.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "dragend"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) choose(file);
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files[0]) choose(fileInput.files[0]);
  });
  form.addEventListener("submit", onSubmit);

  config = await loadConfig();
  if (usesTokens(config)) {
    // The token says who is acting; the user id field is not sent.
    $("user-field").hidden = true;
    userInput.required = false;
    $("token-field").hidden = false;
    tokenInput.value = rememberedToken();
    tokenInput.addEventListener("input", () => {
      rememberToken(tokenInput.value.trim());
      showGalleryLink();
    });
    showGalleryLink();
  }
  $("limit-size").textContent = humanBytes(config.max_upload_bytes);
  fileInput.accept = config.mime_types.join(",");
  markReady();
}

main();
