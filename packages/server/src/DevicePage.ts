/**
 * The page at `verification_uri`: a person signs in and approves (or denies) the code a
 * command-line tool shows. Plain HTML and a few lines of script over the JSON API; the
 * dashboard may restyle it later.
 */
export const devicePage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mur — approve a device</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #1d1d1f; }
  h1 { font-size: 1.4rem; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; margin-top: .25rem; }
  #code { font-family: ui-monospace, monospace; letter-spacing: .15em; text-transform: uppercase; }
  .buttons { margin-top: 1.5rem; display: flex; gap: .75rem; }
  button { padding: .6rem 1.2rem; font-size: 1rem; cursor: pointer; }
  #message { margin-top: 1.5rem; min-height: 1.5rem; }
  .error { color: #b00020; } .ok { color: #0a7d32; }
</style>
</head>
<body>
<h1>Approve a device</h1>
<p>A command-line tool asked to sign in as you. Check that the code below is the one it shows.</p>
<form id="form">
  <div id="signin">
    <label for="email">E-mail</label><input id="email" type="email" autocomplete="username" required>
    <label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
  </div>
  <label for="code">Code</label><input id="code" autocomplete="off" required placeholder="XXXX-XXXX">
  <div class="buttons">
    <button type="submit" id="approve">Approve</button>
    <button type="button" id="deny">Deny</button>
  </div>
</form>
<p id="message" role="status"></p>
<script>
const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
$("code").value = params.get("user_code") || ""
let token = sessionStorage.getItem("mur_token")
if (token) $("signin").hidden = true
const say = (text, ok) => { $("message").textContent = text; $("message").className = ok ? "ok" : "error" }
async function call(path, body, auth) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: "Bearer " + auth } : {}) }, body: JSON.stringify(body) })
  const json = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error((json.error && json.error.message) || ("HTTP " + res.status))
  return json
}
async function decide(approve) {
  try {
    if (!token) {
      const login = await call("/auth/login", { email: $("email").value, password: $("password").value })
      token = login.access_token
      sessionStorage.setItem("mur_token", token)
      $("signin").hidden = true
    }
    await call("/api/device/approve", { user_code: $("code").value, approve }, token)
    say(approve ? "Approved. You can go back to your terminal." : "Denied. The tool will not be signed in.", true)
  } catch (e) {
    if (String(e.message).includes("login")) { sessionStorage.removeItem("mur_token"); token = null; $("signin").hidden = false }
    say(e.message, false)
  }
}
$("form").addEventListener("submit", (e) => { e.preventDefault(); decide(true) })
$("deny").addEventListener("click", () => decide(false))
</script>
</body>
</html>
`
