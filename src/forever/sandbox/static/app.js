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
    const message = (data && data.error) || `The sandbox answered ${response.status}`;
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

const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
const dayFormat = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const fullFormat = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

const shortFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

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
  const language = LANGUAGE_NAMES[customer.language] || customer.language || "no language";
  return customer.staff ? `Staff · ${language} · id ${customer.id}` : `${language} · id ${customer.id}`;
}

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

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
  if (state.offsetSeconds < 60) offset.textContent = "real time";
  else if (days >= 1) offset.textContent = `${days.toFixed(days % 1 ? 1 : 0)} days ahead of real time`;
  else offset.textContent = `${Math.round(state.offsetSeconds / 3600)} h ahead of real time`;
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
  status.textContent = `Moving ${label}: running the scheduled work…`;
  const mailBefore = state.mail.length;
  const result = await act(button, () => api("POST", "/sandbox/api/clock", body));
  clock.classList.remove("busy");
  if (!result) { status.textContent = ""; return; }
  setClock(result.now, result.offset_seconds);
  await refreshState();
  const newMail = state.mail.length - mailBefore;
  status.textContent = `Now ${fullFormat.format(new Date(result.now))} UTC · ${plural(newMail, "new email")}`;
  toast(`Clock moved ${label}: ${plural(newMail, "new email")}.`);
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
    name.textContent = customer.staff ? `${customer.name} (staff)` : customer.name;
    const meta = document.createElement("span");
    meta.textContent = describe(customer);
    text.append(name, meta);
    button.append(avatar(customer), text);
    const newMail = mailFor(customer.id).filter((m) => !state.seenMail.has(m.id)).length;
    if (newMail && !customer.staff) {
      const badge = document.createElement("span");
      badge.className = "mail-badge";
      badge.textContent = `✉ ${newMail}`;
      badge.setAttribute("aria-label", plural(newMail, "unread email"));
      button.append(badge);
    }
    const unread = state.unread.get(customer.id) || 0;
    if (unread) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = unread;
      badge.setAttribute("aria-label", `${plural(unread, "new message")}`);
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
  $("#person-name").textContent = customer.staff ? `${customer.name} (staff)` : customer.name;
  $("#person-meta").textContent = customer.staff
    ? "Support staff: try /broadcast and /stats. The inbox shows every email the sandbox caught."
    : `${describe(customer)} · suggested email ${customer.email}`;
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
  for (const command of commands) add(command, command, `Send ${command}`);
  if (!customer.staff) add(`✉ ${customer.email}`, customer.email, `Send the email address ${customer.email}`);
  // The sandbox's promo code (seeded at start: 20% off the next payment, any plan).
  if (!customer.staff) add("🎟 /promo WELCOME20", "/promo WELCOME20", "Use the promo code WELCOME20");
  renderSimulate(customer);
}

// -- what happens outside the chat: usage, a failed renewal, a block -------------------------

function renderSimulate(customer) {
  $("#simulate").hidden = customer.staff;
  const block = $("#toggle-block");
  block.textContent = customer.blocked ? "Unblock the bot" : "Block the bot";
  block.setAttribute("aria-pressed", String(Boolean(customer.blocked)));
}

function setupSimulate() {
  $("#feed-usage").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const amount = Number.parseInt($("#usage-amount").value, 10) || 1;
    const result = await api("POST", `/sandbox/api/chats/${state.selected}/usage`, { amount });
    toast(`Usage this month: ${result.usage}.`);
  }));
  $("#spend-credits").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const amount = Number.parseInt($("#usage-amount").value, 10) || 1;
    const result = await api("POST", `/sandbox/api/chats/${state.selected}/credits`, { amount });
    toast(`Credits left: ${result.balance}.`);
  }));
  $("#fail-renewal").addEventListener("click", (event) => act(event.currentTarget, async () => {
    await api("POST", `/sandbox/api/chats/${state.selected}/failed-renewal`, { when: "now" });
    toast("Telegram could not renew the subscription: the bot was told (state failed).");
  }));
  $("#toggle-block").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const current = state.customers.get(state.selected);
    const customer = await api("POST", `/sandbox/api/chats/${state.selected}/block`, { blocked: !current.blocked });
    state.customers.set(customer.id, customer);
    renderSimulate(customer);
    toast(customer.blocked ? `${customer.name} blocked the bot.` : `${customer.name} unblocked the bot.`);
  }));
  // A link to the bot from elsewhere (someone's /invite link): /start with its payload here.
  $("#open-start-link").addEventListener("click", (event) => {
    const url = $("#start-link").value.trim();
    if (!botStartPayload(url)) {
      toast("Paste a link to this bot, like https://t.me/<bot>?start=r_…", "error");
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
      ? "No messages yet: send /stats or /broadcast below."
      : "No messages yet: press /start below to open the bot.";
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
    const kind = p.recurring ? (p.first ? "started a Stars subscription" : "renewed the subscription") : "paid";
    wrap.textContent = `You ${kind}: ⭐ ${p.amount}`;
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
  meta.append(message.edited ? "edited · " : "", time);
  bubble.append(meta);
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = message.from_bot ? "Bot: " : "You: ";
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
    img.alt = media.name ? `Picture: ${media.name}` : "Picture sent by the bot";
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
  kicker.textContent = invoice.period_days ? "Subscription invoice" : "Invoice";
  const title = document.createElement("span");
  title.className = "invoice-title";
  title.textContent = invoice.title;
  const description = document.createElement("span");
  description.textContent = invoice.description;
  const amount = document.createElement("span");
  amount.className = "invoice-amount";
  amount.textContent = `⭐ ${invoice.amount}` + (invoice.period_days ? ` / ${invoice.period_days} days` : "");
  box.append(kicker, title, description, amount);
  if (invoice.paid) {
    const paid = document.createElement("span");
    paid.className = "invoice-paid";
    paid.textContent = "✓ Paid";
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
  keyboard.setAttribute("aria-label", "Buttons under the bot's message");
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
        el.setAttribute("aria-label", `${button.text} (opens a link)`);
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
  toast("This kind of button does nothing in the sandbox.", "error");
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
  $("#pay-amount").textContent = `${invoice.amount} Stars`;
  $("#pay-period").textContent = invoice.period_days ? `every ${invoice.period_days} days until you cancel` : "once";
  $("#pay-confirm").textContent = `Pay ⭐ ${invoice.amount}`;
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "pay") return;
    const result = await act(element, () => api("POST", `/sandbox/api/chats/${customerId}/pay`, target));
    if (result && !result.paid) toast(`Payment refused: ${result.error}`, "error");
    else if (result) toast(`Paid ⭐ ${invoice.amount}`, "answer");
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
  $("#inbox-count").setAttribute("aria-label", unread ? `${plural(unread, "unread email")}` : "");
}

function renderInbox() {
  renderInboxCount();
  if (state.view !== "inbox" || state.selected === null) return;
  const customer = state.customers.get(state.selected);
  const mails = mailFor(state.selected);
  $("#inbox-note").textContent = customer.staff
    ? `Every email the mail catcher received (${mails.length}).`
    : `Email to the address ${customer.name} gave the bot (${mails.length}).`;
  const list = $("#inbox-list");
  list.replaceChildren();
  if (!mails.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = customer.staff
      ? "No email yet."
      : `No email yet. Give the bot an email address in the chat (try ✉ ${customer.email}), then move the clock.`;
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
    subject.textContent = mail.subject || "(no subject)";
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
  title.textContent = mail.subject || "(no subject)";
  title.tabIndex = -1;
  const meta = document.createElement("div");
  meta.className = "reader-meta";
  for (const [label, value] of [["From", mail.from], ["To", mail.to], ["Received", `${fullFormat.format(new Date(mail.received_at))} UTC`]]) {
    const line = document.createElement("span");
    const strong = document.createElement("strong");
    strong.textContent = `${label}: `;
    line.append(strong, value);
    meta.append(line);
  }
  const kind = document.createElement("span");
  kind.className = `badge ${mail.marketing ? "badge-marketing" : "badge-transactional"}`;
  kind.textContent = mail.marketing ? "Marketing" : "Transactional";

  const actions = document.createElement("div");
  actions.className = "reader-actions";
  actions.append(kind);
  if (mail.one_click && mail.unsubscribe.length) {
    const unsubscribe = document.createElement("button");
    unsubscribe.type = "button";
    unsubscribe.className = "btn btn-danger btn-small";
    unsubscribe.textContent = "Unsubscribe (one click)";
    const note = document.createElement("span");
    note.className = "note";
    note.setAttribute("role", "status");
    unsubscribe.addEventListener("click", async () => {
      const result = await act(unsubscribe, () => api("POST", `/sandbox/api/mail/${mail.id}/unsubscribe`, {}));
      if (result) {
        note.textContent = result.ok
          ? `Unsubscribed: the bot answered ${result.status} to the one-click POST (RFC 8058).`
          : `The unsubscribe link answered ${result.status}.`;
      }
    });
    actions.append(unsubscribe, note);
  } else if (mail.marketing) {
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = "List-Unsubscribe is set, but without one-click POST.";
    actions.append(note);
  }
  reader.append(title, meta, actions);

  if (mail.has_html) {
    const frame = document.createElement("iframe");
    frame.className = "mail-frame";
    frame.title = `Email: ${mail.subject}`;
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
    summary.textContent = "Plain-text part";
    const pre = document.createElement("pre");
    pre.textContent = mail.text;
    plain.append(summary, pre);
    reader.append(plain);
  }
  const headers = document.createElement("details");
  headers.className = "headers";
  const summary = document.createElement("summary");
  summary.textContent = `Headers (${mail.headers.length})`;
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
  heading.textContent = "Links in this email";
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
      control.textContent = `${link.text} (in the chat)`;
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
    setLive(true, "Live");
    // Load the state only now that events flow, so nothing falls in between; after an
    // interruption anything may have happened: reload it all.
    await refreshState();
    if (wasDown && state.selected !== null) await loadChat(state.selected);
    wasDown = false;
  };
  source.onerror = () => { wasDown = true; setLive(false, "Reconnecting…"); };
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
      setLive(false, "The sandbox stopped");
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
  if (data.business) $("#business-name").textContent = `${data.business} · everything runs on this machine`;
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
    title.textContent = `${chat.title} (${chat.kind})`;
    const status = document.createElement("p");
    status.className = "club-status";
    status.textContent = inside
      ? `Member · ${plural(chat.members.length, "person")} inside`
      : "Not a member: join with the button in the chat";
    card.append(title, status);
    if (inside) {
      const posts = document.createElement("ul");
      posts.className = "club-posts";
      posts.setAttribute("aria-label", `Posts in ${chat.title}`);
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
    if (!name) { error.textContent = "Give the customer a name."; form.elements.name.focus(); return; }
    const button = form.querySelector("button[type=submit]");
    try {
      button.disabled = true;
      const customer = await api("POST", "/sandbox/api/customers", { name, language: form.elements.language.value });
      state.customers.set(customer.id, customer);
      form.reset();
      await select(customer.id, "chat");
      $("#composer-text").focus();
      toast(`${customer.name} is ready: press /start to open the bot.`);
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      button.disabled = false;
    }
  });

  document.querySelectorAll("[data-advance-days]").forEach((button) => {
    const days = Number(button.dataset.advanceDays);
    button.addEventListener("click", () => moveClock({ days }, button, plural(days, "day")));
  });
  document.querySelectorAll("[data-advance-hours]").forEach((button) => {
    const hours = Number(button.dataset.advanceHours);
    button.addEventListener("click", () => moveClock({ hours }, button, plural(hours, "hour")));
  });
  $("#jump-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const until = $("#jump-date").value;
    if (!until) return;
    moveClock({ until }, event.submitter, `to ${until}`);
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
