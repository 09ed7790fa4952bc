// The one-time set-password page: the token travels in the URL's fragment (never sent to
// the server in a request line or a Referer), and goes to POST /auth/password once.
const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? ""
const form = document.getElementById("form")
const message = document.getElementById("message")

const say = (text, ok) => {
  message.textContent = text
  message.className = ok ? "ok" : "error"
}

if (token === "") {
  form.hidden = true
  say("This link has no token; ask your administrator for a new one.", false)
}

form.addEventListener("submit", async (event) => {
  event.preventDefault()
  const password = document.getElementById("password").value
  if (password !== document.getElementById("confirm").value) return say("The two passwords differ.", false)
  document.getElementById("submit").disabled = true
  try {
    const r = await fetch("/auth/password", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, password })
    })
    if (r.ok) {
      form.hidden = true
      history.replaceState(null, "", "/set-password")
      document.getElementById("next").hidden = false
      return say("Your password is set. You can now sign in with mur or at /dashboard.", true)
    }
    const body = await r.json().catch(() => ({}))
    say(body?.error?.message ?? `The server answered ${r.status}`, false)
  } catch {
    say("The server cannot be reached; try again.", false)
  }
  document.getElementById("submit").disabled = false
})
