// mp4mp3's page: sign in, upload with real progress, follow jobs live (Server-Sent Events).
// Plain ES module, no build step. Every text from the server is set with textContent, never as
// HTML, so a file named <img src=x onerror=alert(1)>.mp4 shows as that text.

const PAGE_SIZE = 10;
const state = {
  email: null, csrf: null, offset: 0, total: 0, jobs: [], events: null, gone: new Set(), synced: false,
};
const $ = (id) => document.getElementById(id);

// --- talking to the gateway ---------------------------------------------------------------

class Problem extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (resp.status === 401 && state.email) signedOut("Your session has ended; please sign in again.");
    throw new Problem(resp.status, data.detail || `The server answered ${resp.status}.`);
  }
  return data;
}

function showAlert(text) {
  const alert = $("alert");
  alert.textContent = text || "";
  alert.hidden = !text;
}

// --- session ------------------------------------------------------------------------------

async function start() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("newer").addEventListener("click", () => loadPage(Math.max(0, state.offset - PAGE_SIZE)));
  $("older").addEventListener("click", () => loadPage(state.offset + PAGE_SIZE));
  setUpDrop();
  try {
    signedIn(await api("GET", "/session"));
  } catch {
    signedOut();
  }
}

async function signIn(event) {
  event.preventDefault();
  const creating = event.submitter && event.submitter.value === "signup";
  const body = { email: $("email").value.trim(), password: $("password").value };
  if (!body.email || !body.password) return showAlert("Enter your email and a password.");
  try {
    signedIn(await api("POST", creating ? "/session/signup" : "/session", body));
    $("password").value = "";
  } catch (err) {
    showAlert(err.message);
  }
}

async function signOut() {
  try { await api("DELETE", "/session"); } catch { /* signed out either way */ }
  signedOut();
}

function signedIn(session) {
  state.email = session.email;
  state.csrf = session.csrf;
  showAlert("");
  $("who-email").textContent = session.email;
  $("who").hidden = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  loadOptions();
  loadPage(0);
  follow();
}

function signedOut(message) {
  state.email = state.csrf = null;
  if (state.events) state.events.close();
  state.events = null;
  state.jobs = [];
  $("jobs").replaceChildren();
  $("who").hidden = true;
  $("app").hidden = true;
  $("signin").hidden = false;
  showAlert(message || "");
}

// --- output options, described by the gateway -------------------------------------------------

async function loadOptions() {
  const box = $("options");
  if (box.childElementCount) return;
  const fields = await api("GET", "/page/options").catch(() => []);
  for (const f of fields) box.append(optionField(f));
}

function optionField(f) {
  const wrap = document.createElement("div");
  const id = `opt-${f.name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = f.label;
  let input;
  if (f.kind === "select") {
    input = document.createElement("select");
    const choices = f.optional ? ["", ...f.choices] : f.choices;
    for (const c of choices) {
      const o = document.createElement("option");
      o.value = String(c);
      o.textContent = c === "" ? "(as the source)" : String(c);
      if (f.default !== null && String(f.default) === String(c)) o.selected = true;
      input.append(o);
    }
  } else {
    input = document.createElement("input");
    input.type = f.kind === "checkbox" ? "checkbox" : f.kind === "number" ? "number" : "text";
    if (f.kind === "checkbox") input.checked = Boolean(f.default);
    if (f.min !== undefined) input.min = f.min;
    if (f.max !== undefined) input.max = f.max;
    if (f.step !== undefined) input.step = f.step;
  }
  input.id = id;
  input.name = f.name;
  input.dataset.kind = f.kind;
  if (f.help) input.title = f.help;
  if (f.kind === "checkbox") {
    wrap.className = "check";
    wrap.append(input, label);
  } else {
    wrap.append(label, input);
  }
  return wrap;
}

function chosenOptions() {
  const values = [];
  for (const input of $("options").querySelectorAll("input, select")) {
    if (input.dataset.kind === "checkbox") values.push([input.name, input.checked ? "true" : "false"]);
    else if (input.value !== "") values.push([input.name, input.value]);
  }
  return values;
}

// --- uploads with real progress -------------------------------------------------------------

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    uploadAll(e.dataTransfer.files);
  });
  $("files").addEventListener("change", () => uploadAll($("files").files));
  $("upload-form").addEventListener("submit", (e) => e.preventDefault());
}

function uploadAll(files) {
  for (const file of Array.from(files || [])) upload(file);
  $("files").value = "";
}

function upload(file) {
  const row = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${file.name}`);
  const note = document.createElement("p");
  note.className = "detail";
  note.textContent = "Uploading…";
  row.append(name, bar, note);
  $("uploads").prepend(row);

  const form = new FormData();
  for (const [k, v] of chosenOptions()) form.append(k, v);
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/jobs");
  xhr.setRequestHeader("X-CSRF-Token", state.csrf || "");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    bar.value = Math.round((e.loaded / e.total) * 100);
    note.textContent = `Uploading… ${bar.value}% of ${size(e.total)}`;
  });
  xhr.addEventListener("load", () => {
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 202) {
      bar.value = 100;
      note.textContent = "Uploaded; converting (see below).";
      upsert(data, true);
      setTimeout(() => row.remove(), 4000);
    } else {
      row.classList.add("failed");
      note.textContent = `Not accepted: ${data.detail || `the server answered ${xhr.status}.`}`;
      if (xhr.status === 401) signedOut("Your session has ended; please sign in again.");
    }
  });
  xhr.addEventListener("error", () => { note.textContent = "The upload broke off; try again."; });
  xhr.send(form);
}

// --- the jobs list ----------------------------------------------------------------------------

async function loadPage(offset) {
  try {
    const page = await api("GET", `/jobs?limit=${PAGE_SIZE}&offset=${offset}`);
    state.offset = offset;
    state.total = page.total;
    state.jobs = page.items;
    render();
  } catch (err) {
    if (err.status !== 401) showAlert(`Your jobs cannot be listed right now: ${err.message}`);
  }
}

function upsert(job, isNew) {
  if (state.gone.has(job.id)) return;  // cancelled here; the watch still reports its last moments
  const at = state.jobs.findIndex((j) => j.id === job.id);
  if (at >= 0) {
    state.jobs[at] = { ...state.jobs[at], ...job };
    const old = $("jobs").querySelector(`li[data-id="${CSS.escape(job.id)}"]`);
    if (old) return old.replaceWith(jobRow(state.jobs[at]));  // only this row: focus elsewhere stays
  } else if (state.offset === 0 && !job.deleting && (isNew || (state.synced && notOlder(job)))) {
    state.jobs.unshift(job);
    state.jobs.sort(newestFirst);
    state.total += 1;
    if (state.jobs.length > PAGE_SIZE) state.jobs.pop();
  } else {
    return;
  }
  render();
}

// a job the stream reports after its snapshot that is not older than the page's newest is new
// (creation times have whole seconds; a job changed on another page is older)
function notOlder(job) {
  return state.jobs.every((j) => Math.floor(new Date(job.created) / 1000) >= Math.floor(new Date(j.created) / 1000));
}

function newestFirst(a, b) {  // as GET /jobs: by creation, ids (time-ordered) within a second
  const seconds = Math.floor(new Date(b.created) / 1000) - Math.floor(new Date(a.created) / 1000);
  return seconds || (b.id > a.id ? 1 : b.id < a.id ? -1 : 0);
}

function render() {
  const list = $("jobs");
  list.replaceChildren(...state.jobs.map(jobRow));
  $("empty").hidden = state.total > 0;
  const last = Math.min(state.offset + state.jobs.length, state.total);
  $("page-info").textContent = state.total ? `${state.offset + 1}–${last} of ${state.total}` : "";
  $("newer").disabled = state.offset === 0;
  $("older").disabled = state.offset + PAGE_SIZE >= state.total;
}

function jobRow(job) {
  const row = $("job-template").content.firstElementChild.cloneNode(true);
  row.dataset.id = job.id;
  row.dataset.phase = job.phase;
  row.querySelector(".name").textContent = job.filename;
  const phase = row.querySelector(".phase");
  phase.textContent = job.phase === "Running" ? `Running ${job.progress}%` : job.phase;
  phase.className = `phase phase-${job.phase}`;
  const bar = row.querySelector("progress");
  bar.value = job.progress || 0;
  bar.setAttribute("aria-label", `Conversion of ${job.filename}`);
  row.querySelector(".detail").textContent = detail(job);
  const download = row.querySelector(".download");
  if (job.phase === "Succeeded") {
    download.hidden = false;
    download.href = `/jobs/${encodeURIComponent(job.id)}/mp3`;
    download.setAttribute("download", "");
    download.setAttribute("aria-label", `Download the MP3 of ${job.filename}`);
  }
  const retry = row.querySelector(".retry");
  if (job.phase === "Failed" && !job.deleting) {  // POST /jobs/{id}/retry: a new series of attempts
    retry.hidden = false;
    retry.setAttribute("aria-label", `Retry ${job.filename}`);
    retry.addEventListener("click", () => again(job, retry));
  }
  const cancel = row.querySelector(".cancel");
  const finished = ["Succeeded", "Failed", "Cancelled"].includes(job.phase);
  cancel.textContent = finished ? "Remove" : "Cancel";
  cancel.setAttribute("aria-label", `${cancel.textContent} ${job.filename}`);
  cancel.disabled = Boolean(job.deleting);
  cancel.addEventListener("click", () => remove(job, cancel));
  return row;
}

function detail(job) {
  const parts = [];
  if (job.queue && job.queue.position) parts.push(`Number ${job.queue.position} in the queue.`);
  if (job.message) parts.push(job.message);
  if (job.duration) parts.push(`Took ${job.duration}.`);
  if (job.size) parts.push(`Video ${size(job.size)}.`);
  return parts.join(" ");
}

async function remove(job, button) {
  button.disabled = true;
  try {
    await api("DELETE", `/jobs/${encodeURIComponent(job.id)}`);
    dropJob(job.id);
  } catch (err) {
    button.disabled = false;
    showAlert(`The job could not be cancelled: ${err.message}`);
  }
}

async function again(job, button) {
  button.disabled = true;
  try {
    upsert(await api("POST", `/jobs/${encodeURIComponent(job.id)}/retry`));
  } catch (err) {
    button.disabled = false;
    showAlert(`The job could not be retried: ${err.message}`);
  }
}

function dropJob(id) {
  state.gone.add(id);
  const before = state.jobs.length;
  state.jobs = state.jobs.filter((j) => j.id !== id);
  if (state.jobs.length < before) {
    state.total -= 1;
    render();
  }
}

// --- live updates -------------------------------------------------------------------------------

function follow() {
  if (state.events) state.events.close();
  const events = new EventSource("/jobs/events");  // the browser resumes with Last-Event-ID itself
  state.events = events;
  state.synced = false;  // until then the stream replays existing jobs: they update rows, add none
  const live = $("live");
  events.addEventListener("job", (e) => upsert(JSON.parse(e.data), false));
  events.addEventListener("deleted", (e) => dropJob(JSON.parse(e.data).id));
  events.addEventListener("synced", () => {
    state.synced = true;
    live.classList.add("on");
    live.title = "Live";
    loadPage(state.offset);  // whatever changed between the first listing and the stream
  });
  events.addEventListener("reset", () => loadPage(state.offset));
  events.addEventListener("unavailable", () => { live.classList.remove("on"); live.title = "Live updates paused"; });
  events.addEventListener("error", () => {
    live.classList.remove("on");
    live.title = "Reconnecting…";
    // the browser retries by itself unless the server refused (e.g. the session ended): then we ask
    if (events.readyState === EventSource.CLOSED) setTimeout(recheck, 3000);
  });
}

async function recheck() {
  try {
    await api("GET", "/session");  // a 401 here signs the page out with a message
    if (state.email) follow();
  } catch { /* signed out, or the gateway is away: start() again on the next load */ }
}

function size(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

start();
