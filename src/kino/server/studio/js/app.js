// Kino Studio: sign in, screens (tabs), credit balance, and the wiring between the panels.

import { api, ApiError, auth } from "./api.js";
import * as brush from "./brush.js";
import * as camera from "./camera.js";
import * as generate from "./generate.js";
import * as library from "./library.js";
import { $, $$, bus, state, toast } from "./store.js";
import * as watch from "./watch.js";

const SCREENS = ["generate", "brush", "camera", "watch", "library"];
let balanceTimer = null;

function show(screen, { focus = false } = {}) {
  if (!SCREENS.includes(screen)) screen = "generate";
  for (const s of SCREENS) {
    $(`#screen-${s}`).hidden = s !== screen;
    const tab = $(`#tab-${s}`);
    tab.setAttribute("aria-selected", String(s === screen));
    tab.tabIndex = s === screen ? 0 : -1;
  }
  document.body.dataset.screen = screen;
  if (location.hash !== `#${screen}`) history.replaceState(null, "", `#${screen}`);
  if (screen === "library") library.load();
  if (screen === "brush") brush.render();
  if (focus) $(`#tab-${screen}`).focus();
}

export async function refreshBalance() {
  try {
    state.org = await api.organization();
    $("#balance").value = state.org.creditBalance.toLocaleString("en-US");
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) $("#balance").value = "offline";
    return false;
  }
}

async function signIn(key) {
  auth.key = key;
  const err = $("#err-apikey");
  err.textContent = "";
  err.classList.remove("show");
  try {
    state.org = await api.organization();
  } catch (e) {
    auth.key = "";
    err.textContent = e instanceof ApiError && e.status === 401 ? "That key was not accepted (revoked, mistyped, or for another server)." : `Could not reach the server: ${e.message}`;
    err.classList.add("show");
    $("#apikey").setAttribute("aria-invalid", "true");
    return false;
  }
  $("#apikey").removeAttribute("aria-invalid");
  $("#balance").value = state.org.creditBalance.toLocaleString("en-US");
  $("#screen-signin").hidden = true;
  $("#tabs").hidden = false;
  $("#account").hidden = false;
  document.body.classList.add("signed-in");
  bus.emit("org");
  clearInterval(balanceTimer);
  balanceTimer = setInterval(refreshBalance, 15000);
  show((location.hash || "#generate").slice(1));
  return true;
}

function signOut() {
  auth.key = "";
  clearInterval(balanceTimer);
  document.body.classList.remove("signed-in");
  for (const s of SCREENS) $(`#screen-${s}`).hidden = true;
  $("#tabs").hidden = true;
  $("#account").hidden = true;
  $("#screen-signin").hidden = false;
  $("#apikey").value = "";
  $("#apikey").focus();
}

function init() {
  generate.init();
  brush.init();
  camera.init();
  watch.init();
  library.init();

  $("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#apikey").value.trim();
    if (!key) {
      $("#err-apikey").textContent = "Enter an API key.";
      $("#err-apikey").classList.add("show");
      return;
    }
    const btn = e.submitter || $("#signin-form button");
    btn.disabled = true;
    await signIn(key);
    btn.disabled = false;
  });
  $("#signout").addEventListener("click", signOut);
  window.addEventListener("kino:unauthorized", () => {
    if (document.body.classList.contains("signed-in")) {
      toast("Your key is no longer accepted: sign in again.");
      signOut();
    }
  });

  // tabs: click, and arrow keys between them (WAI-ARIA tabs pattern)
  const tabs = $$("#tabs [role=tab]");
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener("click", () => show(tab.dataset.screen));
    tab.addEventListener("keydown", (e) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (d) {
        e.preventDefault();
        show(tabs[(i + d + tabs.length) % tabs.length].dataset.screen, { focus: true });
      } else if (e.key === "Home" || e.key === "End") {
        e.preventDefault();
        show(tabs[e.key === "Home" ? 0 : tabs.length - 1].dataset.screen, { focus: true });
      }
    });
  }
  window.addEventListener("hashchange", () => auth.key && show(location.hash.slice(1)));

  bus.on("goto", (screen) => show(screen));
  bus.on("balance", refreshBalance);
  bus.on("created", () => refreshBalance());
  bus.on("reopen", (task) => generate.reopen(task));
  bus.on("watch", (task) => watch.open(task.id, task.estimatedCost ? task.estimatedCost.credits : null, task.request));
  bus.on("from-result", ({ task, mode }) => generate.fromResult(task, mode));

  if (auth.key) signIn(auth.key);
  else $("#apikey").focus();
}

init();
