// The chat room status: who is present, who is typing. Naming yourself switches the dashboard's
// stream to ?user=<name> (so you count as present); typing in the message box POSTs /chat/typing.

import { byId, create, finite, formatClock, setText, text } from "./dom.js";
import { Feed } from "./feed.js";
import { stream } from "./stream.js";

const USER_NAME = /^[\p{L}\p{M}\p{Nd} _.-]+$/u;

/** The server's rule: 1–32 letters, digits, spaces or _ - . characters. */
function isValidName(name) {
  const length = [...name].length;
  return length >= 1 && length <= 32 && USER_NAME.test(name);
}
const TYPING_EVERY_MS = 1500;
const STORAGE_KEY = "tidings.chat.name";
const LOG_SIZE = 5;

let me = null;
let lastTypingPost = 0;
let previous = null;

/** Adds a line to the room activity log (newest first). */
function logActivity(message, time) {
  const log = byId("chat-log");
  log.querySelector(".empty")?.remove();
  const item = create("li", "chat-log-item");
  item.append(create("time", "chat-log-time", formatClock(time, "")), create("span", "", message));
  log.prepend(item);
  while (log.children.length > LOG_SIZE) log.lastElementChild.remove();
}

/** Logs who joined, left or started typing since the previous status. */
function logChanges(users, typingUsers, time) {
  if (previous === null) {
    previous = { users, typingUsers };
    const count = users.length;
    logActivity(count === 1 ? "1 person here" : `${count} people here`, time);
    return;
  }
  const name = (user) => (user === me ? `${user} (you)` : user);
  for (const user of users) {
    if (!previous.users.includes(user)) logActivity(`${name(user)} joined`, time);
  }
  for (const user of previous.users) {
    if (!users.includes(user)) logActivity(`${name(user)} left`, time);
  }
  for (const user of typingUsers) {
    if (!previous.typingUsers.includes(user)) logActivity(`${name(user)} started typing`, time);
  }
  previous = { users, typingUsers };
}

function describeTyping(users) {
  if (users.length === 0) return "Nobody is typing";
  const names = users.map((user) => (user === me ? "you" : user));
  if (names.length === 1) return `${names[0]} ${names[0] === "you" ? "are" : "is"} typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} more are typing…`;
}

/** Shows one `chat_status` event. */
export function showChatStatus(data) {
  const users = Array.isArray(data.users) ? data.users.map((user) => text(user, "", 32)) : [];
  const typingUsers = Array.isArray(data.typingUsers)
    ? data.typingUsers.map((user) => text(user, "", 32)).filter(Boolean)
    : [];
  logChanges(users, typingUsers, data.time);
  const active = finite(data.activeUsers) ?? users.length;
  setText(byId("chat-active-count"), String(active));
  setText(byId("chat-room"), data.room ? `#${text(data.room, "", 40)}` : "");
  const list = byId("chat-users");
  list.replaceChildren(
    ...users.slice(0, 40).map((user) => {
      const chip = create("li", user === me ? "chip chip-me" : "chip", user);
      chip.dataset.user = user;
      if (typingUsers.includes(user)) chip.classList.add("chip-typing");
      return chip;
    }),
  );
  if (users.length > 40) list.append(create("li", "chip chip-more", `+${users.length - 40}`));
  if (users.length === 0) list.append(create("li", "chip chip-empty", "nobody named yet"));
  const typing = byId("chat-typing");
  setText(typing, describeTyping(typingUsers));
  typing.dataset.typing = typingUsers.join(",");
  typing.classList.toggle("active", typingUsers.length > 0);
  setText(
    byId("chat-activity"),
    data.lastActivity ? `last activity ${formatClock(data.lastActivity)}` : "no activity yet",
  );
}

function join(name) {
  me = name;
  try {
    localStorage.setItem(STORAGE_KEY, name);
  } catch {
    // Storage may be unavailable (private mode); the name then lasts for this page only.
  }
  stream.setUser(name);
  byId("chat-message").disabled = false;
  setText(byId("chat-join-button"), "Rename");
  setText(byId("chat-hint"), `You are present as “${name}”.`);
}

async function postTyping() {
  if (!me || Date.now() - lastTypingPost < TYPING_EVERY_MS) return;
  lastTypingPost = Date.now();
  try {
    const response = await fetch("/chat/typing", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: me }),
    });
    if (!response.ok) setText(byId("chat-hint"), `Typing not sent (HTTP ${response.status}).`);
  } catch {
    setText(byId("chat-hint"), "Typing not sent: the server is unreachable.");
  }
}

/** Connects the chat feed and wires the name form and the message box. */
export function startChat() {
  new Feed("chat", "chat", { chat_status: showChatStatus }, {
    onReset: () => previous = null, // the replayed statuses start the log over
  });
  const form = byId("chat-join");
  const nameInput = byId("chat-name");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!isValidName(name)) {
      setText(byId("chat-hint"), "Use 1–32 letters, digits, spaces or _ - . characters.");
      return;
    }
    if (name !== me) join(name);
  });
  const message = byId("chat-message");
  message.addEventListener("input", () => {
    if (message.value.trim() !== "") void postTyping();
  });
  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter") message.value = "";
  });
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    saved = null;
  }
  if (saved && isValidName(saved)) {
    nameInput.value = saved;
    join(saved);
  }
}
