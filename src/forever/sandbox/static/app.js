// Forever sandbox page: plain JavaScript, no build step.
// The server is the source of truth; this file renders it and sends what you do.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  bot: null,
  business: "",
  customers: new Map(), // id -> customer
  chats: new Map(), // id -> Map(messageId -> message)
  mail: [], // summaries, oldest first
  seenMail: new Set(),
  unread: new Map(), // customer id -> count of new bot messages
  selected: null,
  view: "chat",
  openMail: null,
  now: null, // sandbox time at `nowFetchedAt`
  nowFetchedAt: 0,
  offsetSeconds: 0,
  live: false,
};

const LANGUAGE_NAMES = {
  en: "English", ro: "Română", it: "Italiano", ru: "Русский", es: "Español", de: "Deutsch",
};
// The page's language and the texts this script writes in it (rendered into the page by the
// server: forever.sandbox.page). `t("key", {name})` fills `{name}`; `plural(n, "key")` picks
// the form for n by the language's plural rules.
const I18N = JSON.parse(document.getElementById("sandbox-texts").textContent);
const LANG = I18N.lang || "en";
const pluralRules = new Intl.PluralRules(LANG);
const numberFormat = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function t(key, values = {}) { return fill(I18N.texts[key] ?? key, values); }

function plural(n, key) {
  const forms = I18N.plurals[key] || {};
  const text = forms[pluralRules.select(n)] ?? forms.other ?? forms.few ?? forms.many ?? Object.values(forms)[0] ?? key;
  return fill(text, { num: numberFormat.format(n) });
}

const AVATAR_COLORS = ["#5847d8", "#d9534f", "#1f8a70", "#c2410c", "#2563eb", "#9333ea", "#0f766e", "#b45309"];

// -- talking to the server ------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const message = (data && data.error) || t("answered", { status: response.status });
    throw new Error(message);
  }
  return data;
}

async function act(button, work) {
  // Runs one action with the button marked busy; errors become a toast, never a dead page.
  if (button) { button.setAttribute("aria-busy", "true"); button.disabled = true; }
  try {
    return await work();
  } catch (error) {
    toast(error.message, "error");
    return null;
  } finally {
    if (button && button.isConnected) { button.removeAttribute("aria-busy"); button.disabled = false; }
  }
}

// -- formatting -----------------------------------------------------------------------------

const DATE_LOCALE = LANG === "en" ? "en-GB" : LANG;
const timeFormat = new Intl.DateTimeFormat(DATE_LOCALE, { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
const dayFormat = new Intl.DateTimeFormat(DATE_LOCALE, { weekday: "short", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const dateFormat = new Intl.DateTimeFormat(DATE_LOCALE, { day: "numeric", month: "long", timeZone: "UTC" });
const fullFormat = new Intl.DateTimeFormat(DATE_LOCALE, { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

const shortFormat = new Intl.DateTimeFormat(DATE_LOCALE, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

function fromUnix(seconds) { return new Date(seconds * 1000); }
function dayKey(date) { return date.toISOString().slice(0, 10); }

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts[1] ? parts[1][0] : "")).toUpperCase();
}

function avatar(customer, large = false) {
  const el = document.createElement("span");
  el.className = "avatar" + (large ? " avatar-lg" : "");
  el.setAttribute("aria-hidden", "true");
  el.textContent = customer.staff ? "★" : initials(customer.name);
  el.style.background = customer.staff ? "#b7791f" : AVATAR_COLORS[customer.id % AVATAR_COLORS.length];
  return el;
}

function describe(customer) {
  const language = LANGUAGE_NAMES[customer.language] || customer.language || t("no_language");
  return customer.staff ? t("describe_staff", { language, id: customer.id }) : `${language} · id ${customer.id}`;
}


// -- toasts and announcements ---------------------------------------------------------------

function toast(text, kind = "info") {
  const box = $("#toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.textContent = text;
  box.append(el);
  if (kind === "error" || kind === "alert") $("#alerts").textContent = text;
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3500);
}

// -- the clock ------------------------------------------------------------------------------

function sandboxNow() {
  if (!state.now) return null;
  return new Date(state.now.getTime() + (Date.now() - state.nowFetchedAt));
}

function setClock(iso, offsetSeconds) {
  state.now = new Date(iso);
  state.nowFetchedAt = Date.now();
  if (offsetSeconds !== undefined) state.offsetSeconds = offsetSeconds;
  renderClock();
}

function renderClock() {
  const now = sandboxNow();
  if (!now) return;
  const el = $("#clock-now");
  el.textContent = `${fullFormat.format(now)} UTC`;
  el.dateTime = now.toISOString();
  const days = state.offsetSeconds / 86400;
  const offset = $("#clock-offset");
  if (state.offsetSeconds < 60) offset.textContent = t("real_time");
  else if (days >= 1) offset.textContent = plural(Number(days.toFixed(days % 1 ? 1 : 0)), "days_ahead");
  else offset.textContent = t("hours_ahead", { hours: Math.round(state.offsetSeconds / 3600) });
  const jump = $("#jump-date");
  const tomorrow = new Date(now.getTime() + 86400000);
  jump.min = dayKey(tomorrow);
  jump.max = dayKey(new Date(now.getTime() + 120 * 86400000));
  if (!jump.value || jump.value < jump.min) jump.value = dayKey(new Date(now.getTime() + 3 * 86400000));
}

async function moveClock(body, button, label) {
  const clock = $(".clock");
  const status = $("#clock-status");
  clock.classList.add("busy");
  status.textContent = t("moving", { label });
  const mailBefore = state.mail.length;
  const result = await act(button, () => api("POST", "/sandbox/api/clock", body));
  clock.classList.remove("busy");
  if (!result) { status.textContent = ""; return; }
  setClock(result.now, result.offset_seconds);
  await refreshState();
  const newMail = state.mail.length - mailBefore;
  status.textContent = t("now", { time: fullFormat.format(new Date(result.now)), mail: plural(newMail, "new_email") });
  toast(t("moved", { label, mail: plural(newMail, "new_email") }));
}

// -- people ---------------------------------------------------------------------------------

function renderPeople() {
  const list = $("#people-list");
  list.replaceChildren();
  const people = [...state.customers.values()].sort((a, b) => (b.staff - a.staff) || (a.id - b.id));
  for (const customer of people) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "person-button";
    button.dataset.customerId = customer.id;
    if (customer.id === state.selected) button.setAttribute("aria-current", "true");
    const text = document.createElement("span");
    text.className = "person-text";
    const name = document.createElement("strong");
    name.textContent = customer.staff ? t("staff_name", { name: customer.name }) : customer.name;
    const meta = document.createElement("span");
    meta.textContent = describe(customer);
    text.append(name, meta);
    button.append(avatar(customer), text);
    const newMail = mailFor(customer.id).filter((m) => !state.seenMail.has(m.id)).length;
    if (newMail && !customer.staff) {
      const badge = document.createElement("span");
      badge.className = "mail-badge";
      badge.textContent = `✉ ${newMail}`;
      badge.setAttribute("aria-label", plural(newMail, "unread_email"));
      button.append(badge);
    }
    const unread = state.unread.get(customer.id) || 0;
    if (unread) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = unread;
      badge.setAttribute("aria-label", plural(unread, "new_message"));
      button.append(badge);
    }
    button.addEventListener("click", () => select(customer.id));
    item.append(button);
    list.append(item);
  }
}

async function select(customerId, view) {
  state.selected = customerId;
  state.unread.delete(customerId);
  const customer = state.customers.get(customerId);
  $("#welcome").hidden = true;
  $("#person").hidden = false;
  $("#person-name").textContent = customer.staff ? t("staff_name", { name: customer.name }) : customer.name;
  $("#person-meta").textContent = customer.staff
    ? t("staff_meta")
    : t("suggested_email", { about: describe(customer), email: customer.email });
  $("#person-avatar").replaceWith(Object.assign(avatar(customer, true), { id: "person-avatar" }));
  renderPeople();
  renderChips(customer);
  setView(view || state.view);
  await loadChat(customerId);
  renderInbox();
  renderClub();
}

function renderChips(customer) {
  const chips = $("#chips");
  chips.replaceChildren();
  const commands = customer.staff
    ? ["/stats", "/broadcast", "/promo list", "/help", "/invite", "/partners"]
    : ["/start", "/plans", "/shop", "/account", "/cancel", "/email", "/language", "/privacy", "/help", "/invite"];
  const add = (label, text, description) => {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.textContent = label;
    if (description) chip.setAttribute("aria-label", description);
    chip.addEventListener("click", () => sendText(text, chip));
    chips.append(chip);
  };
  for (const command of commands) add(command, command, t("send_command", { command }));
  if (!customer.staff) add(`✉ ${customer.email}`, customer.email, t("send_email", { email: customer.email }));
  // The sandbox's promo code (seeded at start: 20% off the next payment, any plan).
  if (!customer.staff) add("🎟 /promo WELCOME20", "/promo WELCOME20", t("use_promo", { code: "WELCOME20" }));
  renderSimulate(customer);
}

// -- what happens outside the chat: usage, a failed renewal, a block -------------------------

function renderSimulate(customer) {
  $("#simulate").hidden = customer.staff;
  const block = $("#toggle-block");
  block.textContent = customer.blocked ? t("unblock") : t("block");
  block.setAttribute("aria-pressed", String(Boolean(customer.blocked)));
}

function setupSimulate() {
  $("#feed-usage").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const amount = Number.parseInt($("#usage-amount").value, 10) || 1;
    const result = await api("POST", `/sandbox/api/chats/${state.selected}/usage`, { amount });
    toast(t("usage", { usage: result.usage }));
  }));
  $("#spend-credits").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const amount = Number.parseInt($("#usage-amount").value, 10) || 1;
    const result = await api("POST", `/sandbox/api/chats/${state.selected}/credits`, { amount });
    toast(t("credits", { balance: result.balance }));
  }));
  $("#fail-renewal").addEventListener("click", (event) => act(event.currentTarget, async () => {
    await api("POST", `/sandbox/api/chats/${state.selected}/failed-renewal`, { when: "now" });
    toast(t("renewal_failed"));
  }));
  $("#toggle-block").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const current = state.customers.get(state.selected);
    const customer = await api("POST", `/sandbox/api/chats/${state.selected}/block`, { blocked: !current.blocked });
    state.customers.set(customer.id, customer);
    renderSimulate(customer);
    toast(t(customer.blocked ? "blocked" : "unblocked", { name: customer.name }));
  }));
  // A link to the bot from elsewhere (someone's /invite link): /start with its payload here.
  $("#open-start-link").addEventListener("click", (event) => {
    const url = $("#start-link").value.trim();
    if (!botStartPayload(url)) {
      toast(t("paste_link"), "error");
      return;
    }
    openUrl(url, event.currentTarget);
  });
}

// -- tabs -----------------------------------------------------------------------------------

function setView(view) {
  state.view = view;
  for (const [tab, panel, name] of [["#tab-chat", "#panel-chat", "chat"], ["#tab-inbox", "#panel-inbox", "inbox"]]) {
    const active = name === view;
    $(tab).setAttribute("aria-selected", String(active));
    $(tab).tabIndex = active ? 0 : -1;
    $(panel).hidden = !active;
  }
  if (view === "inbox") renderInbox();
  else scrollChat();
}

function setupTabs() {
  const tabs = [$("#tab-chat"), $("#tab-inbox")];
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => setView(index === 0 ? "chat" : "inbox"));
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const next = tabs[(index + 1) % tabs.length];
      next.focus();
      next.click();
      event.preventDefault();
    });
  });
}

// -- chat -----------------------------------------------------------------------------------

async function loadChat(customerId) {
  const data = await act(null, () => api("GET", `/sandbox/api/chats/${customerId}`));
  if (!data) return;
  const messages = new Map();
  for (const message of data.messages) messages.set(message.id, message);
  state.chats.set(customerId, messages);
  if (state.selected === customerId) renderChat();
}

function renderChat() {
  const box = $("#messages");
  // A whole chat drawn at once is not news: keep screen readers from reading it all out.
  box.setAttribute("aria-busy", "true");
  box.replaceChildren();
  const messages = [...(state.chats.get(state.selected) || new Map()).values()];
  if (!messages.length) {
    const empty = document.createElement("div");
    empty.className = "service";
    const staff = state.customers.get(state.selected)?.staff;
    empty.textContent = staff
      ? t("no_messages_staff")
      : t("no_messages");
    box.append(empty);
  }
  let lastDay = null;
  for (const message of messages) {
    if (message.deleted) continue;
    const day = dayKey(fromUnix(message.date));
    if (day !== lastDay) { box.append(daySeparator(message.date)); lastDay = day; }
    box.append(renderMessage(message));
  }
  scrollChat();
  requestAnimationFrame(() => box.removeAttribute("aria-busy"));
}

function daySeparator(unix) {
  const el = document.createElement("div");
  el.className = "day-sep";
  el.textContent = dayFormat.format(fromUnix(unix));
  el.dataset.day = dayKey(fromUnix(unix));
  return el;
}

function scrollChat() {
  const box = $("#messages");
  requestAnimationFrame(() => { box.scrollTop = box.scrollHeight; });
}

function upsertMessage(chatId, message) {
  if (!state.chats.has(chatId)) {
    // Not loaded yet: count it, and it is fetched in full when opened.
    if (message.from_bot && chatId !== state.selected) bumpUnread(chatId);
    return;
  }
  const messages = state.chats.get(chatId);
  const isNew = !messages.has(message.id);
  messages.set(message.id, message);
  if (chatId !== state.selected) {
    if (isNew && message.from_bot) bumpUnread(chatId);
    return;
  }
  const box = $("#messages");
  const existing = box.querySelector(`[data-message-id="${message.id}"]`);
  if (message.deleted) { if (existing) existing.remove(); return; }
  const element = renderMessage(message);
  if (existing) {
    const focusedIndex = indexOfFocusedButton(existing);
    existing.replaceWith(element);
    if (!isNew) $(".bubble", element)?.classList.add("just-edited");
    restoreFocus(element, focusedIndex);
  } else {
    const placeholder = box.querySelector(".service:only-child");
    if (placeholder) placeholder.remove();
    const day = dayKey(fromUnix(message.date));
    const days = box.querySelectorAll(".day-sep");
    if (!days.length || days[days.length - 1].dataset.day !== day) box.append(daySeparator(message.date));
    box.append(element);
    scrollChat();
  }
  if (message.from_bot) $("#typing").hidden = true;
}

function indexOfFocusedButton(element) {
  const buttons = [...element.querySelectorAll("button")];
  return buttons.indexOf(document.activeElement);
}

function restoreFocus(element, index) {
  if (index < 0) return;
  const buttons = [...element.querySelectorAll("button")];
  (buttons[index] || buttons[buttons.length - 1] || $("#composer-text")).focus();
}

function bumpUnread(chatId) {
  state.unread.set(chatId, (state.unread.get(chatId) || 0) + 1);
  renderPeople();
}

function renderMessage(message) {
  const wrap = document.createElement("div");
  wrap.dataset.messageId = message.id;
  if (message.payment) {
    wrap.className = "service";
    const p = message.payment;
    const kind = p.recurring ? (p.first ? "started_subscription" : "renewed") : "you_paid";
    wrap.textContent = t(kind, { amount: p.amount });
    return wrap;
  }
  wrap.className = `msg ${message.from_bot ? "bot" : "me"}`;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  if (message.media) bubble.append(renderMedia(message.media));
  if (message.invoice) bubble.append(renderInvoice(message.invoice));
  if (message.html) {
    const body = document.createElement("div");
    body.className = "text";
    body.innerHTML = message.html; // rebuilt by the fake Bot API from entities: Telegram's tags only
    tidyLinks(body);
    bubble.append(body);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  const time = document.createElement("time");
  const date = fromUnix(message.date);
  time.dateTime = date.toISOString();
  time.textContent = timeFormat.format(date);
  meta.append(message.edited ? `${t("edited")} · ` : "", time);
  bubble.append(meta);
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = `${message.from_bot ? t("bot") : t("you")} `;
  bubble.prepend(who);
  wrap.append(bubble);
  if (message.buttons && message.buttons.length) wrap.append(renderKeyboard(message));
  return wrap;
}

function renderMedia(media) {
  if (media.kind === "photo") {
    const img = document.createElement("img");
    img.className = "media";
    img.src = media.url;
    img.alt = media.name ? t("picture", { name: media.name }) : t("picture_from_bot");
    img.loading = "lazy";
    img.addEventListener("load", scrollChat, { once: true });
    return img;
  }
  const link = document.createElement("a");
  link.href = media.url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = `📎 ${media.name || media.kind}`;
  return link;
}

function renderInvoice(invoice) {
  const box = document.createElement("div");
  box.className = "invoice";
  const kicker = document.createElement("span");
  kicker.className = "invoice-kicker";
  kicker.textContent = invoice.period_days ? t("subscription_invoice") : t("invoice");
  const title = document.createElement("span");
  title.className = "invoice-title";
  title.textContent = invoice.title;
  const description = document.createElement("span");
  description.textContent = invoice.description;
  const amount = document.createElement("span");
  amount.className = "invoice-amount";
  amount.textContent = `⭐ ${invoice.amount}` + (invoice.period_days ? ` ${plural(invoice.period_days, "per_days")}` : "");
  box.append(kicker, title, description, amount);
  if (invoice.paid) {
    const paid = document.createElement("span");
    paid.className = "invoice-paid";
    paid.textContent = `✓ ${t("paid")}`;
    box.append(paid);
  }
  return box;
}

function tidyLinks(root) {
  for (const link of root.querySelectorAll("a")) {
    const href = link.getAttribute("href") || "";
    if (!/^(https?:|mailto:)/i.test(href)) { link.removeAttribute("href"); continue; }
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
}

function renderKeyboard(message) {
  const keyboard = document.createElement("div");
  keyboard.className = "keyboard";
  keyboard.setAttribute("role", "group");
  keyboard.setAttribute("aria-label", t("keyboard"));
  message.buttons.forEach((row, rowIndex) => {
    const line = document.createElement("div");
    line.className = "kb-row";
    row.forEach((button, columnIndex) => {
      const el = document.createElement("button");
      el.type = "button";
      el.className = "kb-btn";
      el.textContent = button.text;
      if (button.kind === "url") {
        const icon = document.createElement("span");
        icon.className = "kb-icon";
        icon.setAttribute("aria-hidden", "true");
        icon.textContent = "↗";
        el.append(icon);
        el.setAttribute("aria-label", t("opens_link", { text: button.text }));
      }
      el.addEventListener("click", () => pressButton(message, button, rowIndex, columnIndex, el));
      line.append(el);
    });
    keyboard.append(line);
  });
  return keyboard;
}

async function pressButton(message, button, row, column, element) {
  const chatId = state.selected;
  if (button.kind === "callback") {
    const result = await act(element, () =>
      api("POST", `/sandbox/api/chats/${chatId}/press`, { message_id: message.id, row, column }));
    if (result && result.answer) toast(result.answer, result.alert ? "alert" : "answer");
    return;
  }
  if (button.kind === "pay") return openPay({ message_id: message.id }, message.invoice, element);
  if (button.kind === "invoice_link") return payLink(button.url, element);
  if (button.kind === "url" && /^https:\/\/t\.me\/\+/.test(button.url)) {
    // An invite to one of the club's chats: the customer asks to join, the bot answers.
    const result = await act(element, () =>
      api("POST", `/sandbox/api/chats/${chatId}/press`, { message_id: message.id, row, column }));
    if (result && result.answer) toast(result.answer, "answer");
    await refreshState();
    return;
  }
  if (button.kind === "url") return openUrl(button.url, element);
  toast(t("button_does_nothing"), "error");
}

function botStartPayload(url) {
  // https://t.me/<our bot>?start=<payload>: a deep link into this chat.
  if (!state.bot) return null;
  const match = /^https:\/\/t\.me\/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]{1,64})$/.exec(url);
  if (!match || match[1].toLowerCase() !== state.bot.username.toLowerCase()) return null;
  return match[2];
}

async function openUrl(url, element, customerId = state.selected) {
  if (/^https:\/\/t\.me\/\$/.test(url)) return payLink(url, element, customerId);
  const payload = botStartPayload(url);
  if (payload) {
    if (customerId !== state.selected) await select(customerId, "chat");
    else setView("chat");
    await act(element, () => api("POST", `/sandbox/api/chats/${customerId}/start`, { payload }));
    return;
  }
  window.open(url, "_blank", "noopener");
}

async function payLink(url, element, customerId = state.selected) {
  const slug = url.split("$")[1];
  const invoice = await act(element, () => api("GET", `/sandbox/api/invoices/${encodeURIComponent(slug)}`));
  if (invoice) openPay({ link: url }, invoice, element, customerId);
}

function openPay(target, invoice, element, customerId = state.selected) {
  const dialog = $("#pay-dialog");
  $("#pay-title").textContent = invoice.title;
  $("#pay-description").textContent = invoice.description;
  $("#pay-amount").textContent = plural(invoice.amount, "stars");
  $("#pay-period").textContent = invoice.period_days ? plural(invoice.period_days, "every_days") : t("once");
  $("#pay-confirm").textContent = t("pay_amount", { amount: invoice.amount });
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "pay") return;
    const result = await act(element, () => api("POST", `/sandbox/api/chats/${customerId}/pay`, target));
    if (result && !result.paid) toast(t("payment_refused", { error: result.error }), "error");
    else if (result) toast(t("paid_amount", { amount: invoice.amount }), "answer");
  };
  dialog.showModal();
  $("#pay-confirm").focus();
}

async function sendText(text, button) {
  const chatId = state.selected;
  if (!text.trim() || chatId === null) return false;
  const done = await act(button, () => api("POST", `/sandbox/api/chats/${chatId}/messages`, { text }));
  if (done && !state.live) await loadChat(chatId);
  return Boolean(done);
}

function setupChat() {
  $("#composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#composer-text");
    const text = input.value;
    if (!text.trim()) { input.focus(); return; }
    input.value = "";
    const ok = await sendText(text, $(".btn-send"));
    if (!ok) input.value = text;
    input.focus();
  });
  $("#messages").addEventListener("click", (event) => {
    const spoiler = event.target.closest("tg-spoiler");
    if (spoiler) spoiler.classList.add("revealed");
    const link = event.target.closest("a[href]");
    if (!link) return;
    const href = link.getAttribute("href");
    if (/^https:\/\/t\.me\/\$/.test(href) || botStartPayload(href)) {
      event.preventDefault();
      openUrl(href, null);
    }
  });
}

// -- inbox ----------------------------------------------------------------------------------

function mailFor(customerId) {
  const customer = state.customers.get(customerId);
  if (!customer) return [];
  const mails = customer.staff ? state.mail : state.mail.filter((m) => m.customer_id === customerId);
  return [...mails].reverse();
}

function renderInboxCount() {
  if (state.selected === null) return;
  const unread = mailFor(state.selected).filter((m) => !state.seenMail.has(m.id)).length;
  $("#inbox-count").textContent = unread ? String(unread) : "";
  $("#inbox-count").setAttribute("aria-label", unread ? plural(unread, "unread_email") : "");
}

function renderInbox() {
  renderInboxCount();
  if (state.view !== "inbox" || state.selected === null) return;
  const customer = state.customers.get(state.selected);
  const mails = mailFor(state.selected);
  $("#inbox-note").textContent = customer.staff
    ? t("all_mail", { count: mails.length })
    : t("customer_mail", { name: customer.name, count: mails.length });
  const list = $("#inbox-list");
  list.replaceChildren();
  if (!mails.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = customer.staff
      ? t("no_mail")
      : t("no_mail_customer", { email: customer.email });
    list.append(empty);
  }
  for (const mail of mails) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "mail-button" + (state.seenMail.has(mail.id) ? "" : " is-unread");
    if (mail.id === state.openMail) button.setAttribute("aria-current", "true");
    const top = document.createElement("span");
    top.className = "mail-top";
    const to = document.createElement("span");
    to.textContent = customer.staff ? mail.to : mail.from;
    const when = document.createElement("time");
    when.dateTime = mail.received_at;
    when.textContent = shortFormat.format(new Date(mail.received_at));
    top.append(to, when);
    const subject = document.createElement("span");
    subject.className = "mail-subject";
    subject.textContent = mail.subject || t("no_subject");
    const preview = document.createElement("span");
    preview.className = "mail-preview";
    preview.textContent = mail.preview;
    button.append(top, subject, preview);
    button.addEventListener("click", () => openMail(mail.id));
    item.append(button);
    list.append(item);
  }
}

async function openMail(mailId) {
  const mail = await act(null, () => api("GET", `/sandbox/api/mail/${mailId}`));
  if (!mail) return;
  state.openMail = mailId;
  state.seenMail.add(mailId);
  renderInbox();
  renderPeople();
  const reader = $("#reader");
  reader.replaceChildren();

  const title = document.createElement("h2");
  title.textContent = mail.subject || t("no_subject");
  title.tabIndex = -1;
  const meta = document.createElement("div");
  meta.className = "reader-meta";
  for (const [label, value] of [[t("from"), mail.from], [t("to"), mail.to], [t("received"), `${fullFormat.format(new Date(mail.received_at))} UTC`]]) {
    const line = document.createElement("span");
    const strong = document.createElement("strong");
    strong.textContent = `${label}: `;
    line.append(strong, value);
    meta.append(line);
  }
  const kind = document.createElement("span");
  kind.className = `badge ${mail.marketing ? "badge-marketing" : "badge-transactional"}`;
  kind.textContent = mail.marketing ? t("marketing") : t("transactional");

  const actions = document.createElement("div");
  actions.className = "reader-actions";
  actions.append(kind);
  if (mail.one_click && mail.unsubscribe.length) {
    const unsubscribe = document.createElement("button");
    unsubscribe.type = "button";
    unsubscribe.className = "btn btn-danger btn-small";
    unsubscribe.textContent = t("unsubscribe");
    const note = document.createElement("span");
    note.className = "note";
    note.setAttribute("role", "status");
    unsubscribe.addEventListener("click", async () => {
      const result = await act(unsubscribe, () => api("POST", `/sandbox/api/mail/${mail.id}/unsubscribe`, {}));
      if (result) {
        note.textContent = result.ok
          ? t("unsubscribed", { status: result.status })
          : t("unsubscribe_answered", { status: result.status });
      }
    });
    actions.append(unsubscribe, note);
  } else if (mail.marketing) {
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = t("no_one_click");
    actions.append(note);
  }
  reader.append(title, meta, actions);

  if (mail.has_html) {
    const frame = document.createElement("iframe");
    frame.className = "mail-frame";
    frame.title = t("email_frame", { subject: mail.subject });
    frame.setAttribute("sandbox", "allow-popups allow-popups-to-escape-sandbox");
    frame.referrerPolicy = "no-referrer";
    frame.src = mail.html_url;
    reader.append(frame);
  }
  if (mail.links.length) reader.append(renderLinks(mail));
  if (mail.text) {
    const plain = document.createElement("details");
    plain.className = "plain";
    const summary = document.createElement("summary");
    summary.textContent = t("plain_text");
    const pre = document.createElement("pre");
    pre.textContent = mail.text;
    plain.append(summary, pre);
    reader.append(plain);
  }
  const headers = document.createElement("details");
  headers.className = "headers";
  const summary = document.createElement("summary");
  summary.textContent = t("headers", { count: mail.headers.length });
  const list = document.createElement("dl");
  for (const header of mail.headers) {
    const dt = document.createElement("dt");
    dt.textContent = header.name;
    const dd = document.createElement("dd");
    dd.textContent = header.value;
    list.append(dt, dd);
  }
  headers.append(summary, list);
  reader.append(headers);
  title.focus();
}

function renderLinks(mail) {
  const box = document.createElement("section");
  box.className = "links";
  const heading = document.createElement("h3");
  heading.textContent = t("links");
  const list = document.createElement("ul");
  for (const link of mail.links) {
    const item = document.createElement("li");
    const url = document.createElement("span");
    url.className = "url";
    url.textContent = link.url;
    const inChat = botStartPayload(link.url) || /^https:\/\/t\.me\/\$/.test(link.url);
    let control;
    if (inChat) {
      control = document.createElement("button");
      control.type = "button";
      control.className = "btn btn-ghost btn-small";
      control.textContent = t("in_chat", { text: link.text });
      const owner = mail.customer_id ?? state.selected;
      control.addEventListener("click", () => openUrl(link.url, control, owner));
    } else {
      control = document.createElement("a");
      control.className = "btn btn-ghost btn-small";
      control.href = link.url;
      control.target = "_blank";
      control.rel = "noopener";
      control.textContent = `${link.text} ↗`;
    }
    item.append(control, url);
    list.append(item);
  }
  box.append(heading, list);
  return box;
}

// -- live updates ---------------------------------------------------------------------------

function setLive(on, text) {
  state.live = on;
  const live = $("#live");
  live.classList.toggle("on", on);
  live.classList.toggle("off", !on);
  $("#live-text").textContent = text;
}

function connect() {
  const source = new EventSource("/sandbox/api/events");
  let wasDown = false;
  source.onopen = async () => {
    setLive(true, t("live"));
    // Load the state only now that events flow, so nothing falls in between; after an
    // interruption anything may have happened: reload it all.
    await refreshState();
    if (wasDown && state.selected !== null) await loadChat(state.selected);
    wasDown = false;
  };
  source.onerror = () => { wasDown = true; setLive(false, t("reconnecting")); };
  source.onmessage = (event) => handleEvent(JSON.parse(event.data));
}

let typingTimer = null;

function handleEvent(event) {
  switch (event.type) {
    case "message":
      upsertMessage(event.chat_id, event.message);
      break;
    case "typing":
      if (event.chat_id === state.selected) {
        $("#typing").hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { $("#typing").hidden = true; }, 4000);
      }
      break;
    case "mail":
      if (!state.mail.some((m) => m.id === event.mail.id)) state.mail.push(event.mail);
      renderInbox();
      renderPeople();
      break;
    case "customer":
      if (!state.customers.has(event.customer.id)) {
        state.customers.set(event.customer.id, event.customer);
        renderPeople();
      } else {
        state.customers.set(event.customer.id, event.customer);
        if (event.customer.id === state.selected) renderSimulate(event.customer);
      }
      break;
    case "clock":
      setClock(event.now, event.offset_seconds);
      break;
    case "closed":
      setLive(false, t("stopped"));
      break;
    default:
      break;
  }
}

async function refreshState() {
  const data = await act(null, () => api("GET", "/sandbox/api/state"));
  if (!data) return;
  state.bot = data.bot;
  state.business = data.business;
  if (data.business) $("#business-name").textContent = t("business", { business: data.business });
  for (const customer of data.customers) state.customers.set(customer.id, customer);
  state.mail = data.mail;
  state.club = data.club || [];
  setClock(data.now, data.offset_seconds);
  renderPeople();
  renderInbox();
  renderClub();
}

// -- club chats: the catalog's channel and group, as the selected person sees them ----------

function renderClub() {
  const box = $("#club-chats");
  if (!box) return;
  const club = state.club || [];
  $("#club").hidden = club.length === 0 || state.selected == null;
  box.replaceChildren();
  for (const chat of club) {
    const inside = chat.members.includes(state.selected);
    const card = document.createElement("article");
    card.className = "club-chat";
    card.setAttribute("aria-label", chat.title);
    const title = document.createElement("h4");
    title.textContent = `${chat.title} (${t(chat.kind)})`;
    const status = document.createElement("p");
    status.className = "club-status";
    status.textContent = inside
      ? plural(chat.members.length, "members")
      : t("not_member");
    card.append(title, status);
    if (inside) {
      const posts = document.createElement("ul");
      posts.className = "club-posts";
      posts.setAttribute("aria-label", t("posts_in", { title: chat.title }));
      for (const text of chat.posts) {
        const item = document.createElement("li");
        item.textContent = text;
        posts.append(item);
      }
      card.append(posts);
    }
    box.append(card);
  }
}

// -- start ----------------------------------------------------------------------------------

function setupForms() {
  $("#new-customer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("#new-customer-error");
    error.textContent = "";
    const name = form.elements.name.value.trim();
    if (!name) { error.textContent = t("name_needed"); form.elements.name.focus(); return; }
    const button = form.querySelector("button[type=submit]");
    try {
      button.disabled = true;
      const customer = await api("POST", "/sandbox/api/customers", { name, language: form.elements.language.value });
      state.customers.set(customer.id, customer);
      form.reset();
      await select(customer.id, "chat");
      $("#composer-text").focus();
      toast(t("ready", { name: customer.name }));
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      button.disabled = false;
    }
  });

  document.querySelectorAll("[data-advance-days]").forEach((button) => {
    const days = Number(button.dataset.advanceDays);
    button.addEventListener("click", () => moveClock({ days }, button, plural(days, "by_days")));
  });
  document.querySelectorAll("[data-advance-hours]").forEach((button) => {
    const hours = Number(button.dataset.advanceHours);
    button.addEventListener("click", () => moveClock({ hours }, button, plural(hours, "by_hours")));
  });
  $("#jump-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const until = $("#jump-date").value;
    if (!until) return;
    moveClock({ until }, event.submitter, t("to_date", { date: dateFormat.format(new Date(`${until}T00:00:00Z`)) }));
  });
}

async function main() {
  setupTabs();
  setupChat();
  setupForms();
  setupSimulate();
  connect();
  setInterval(renderClock, 15000);
}

main();
