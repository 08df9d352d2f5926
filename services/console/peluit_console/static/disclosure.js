/* Peluit console: the one-time view of a disclosed identity or original file.
 * The key pair is made here, in the officer's browser (WebCrypto X25519); only
 * its public half leaves the page. The reply is sealed to it: HKDF-SHA256 over
 * the X25519 shared secret (salt: ephemeral public key || our public key, info
 * "peluit-disclosure-v1") gives an AES-256-GCM key; the request id is the
 * associated data. Neither the console nor the officer API can open it. */
(function () {
  "use strict";
  var root = document.getElementById("disclosure");
  if (!root) { return; }
  var button = document.getElementById("open-disclosure");
  var status = document.getElementById("disclosure-status");
  var out = document.getElementById("disclosure-result");
  var requestId = root.getAttribute("data-request-id");
  var enc = new TextEncoder();

  function b64(bytes) {
    var s = "";
    new Uint8Array(bytes).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s);
  }
  function unb64(text) {
    var s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }
  function concat(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0); out.set(b, a.length);
    return out;
  }
  function say(text) { status.textContent = text; }

  async function open() {
    button.disabled = true;
    say(root.getAttribute("data-working"));
    var pair = await crypto.subtle.generateKey({name: "X25519"}, false, ["deriveBits"]);
    var mine = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    var form = new URLSearchParams();
    form.set("csrf", root.getAttribute("data-csrf"));
    form.set("lang", document.documentElement.lang);
    form.set("public_key", b64(mine));
    var resp = await fetch(root.getAttribute("data-open-url"), {method: "POST", body: form,
      credentials: "same-origin", headers: {"Accept": "application/json"}});
    var reply = await resp.json();
    if (!resp.ok) { throw new Error(reply.message || reply.error || String(resp.status)); }
    var clear = await unseal(pair, mine, reply);
    // an original's own file name comes sealed on its own (it may name the reporter, like the file)
    var name = reply.name ? new TextDecoder().decode(await unseal(pair, mine, reply.name)) : null;
    show(reply, clear, name);
  }

  async function unseal(pair, mine, sealed) {
    var theirs = unb64(sealed.ephemeral_public_key);
    var peer = await crypto.subtle.importKey("raw", theirs, {name: "X25519"}, false, []);
    var shared = await crypto.subtle.deriveBits({name: "X25519", public: peer}, pair.privateKey, 256);
    var hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
    var key = await crypto.subtle.deriveKey(
      {name: "HKDF", hash: "SHA-256", salt: concat(theirs, mine), info: enc.encode("peluit-disclosure-v1")},
      hkdf, {name: "AES-GCM", length: 256}, false, ["decrypt"]);
    return new Uint8Array(await crypto.subtle.decrypt(
      {name: "AES-GCM", iv: unb64(sealed.nonce), additionalData: enc.encode(requestId)}, key, unb64(sealed.ciphertext)));
  }

  function show(reply, clear, name) {
    out.textContent = "";
    if (reply.subject === "evidence") {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([clear]));
      link.download = name || ("original-" + (reply.original_ref || requestId));
      link.textContent = root.getAttribute("data-download");
      out.appendChild(link);
    } else {
      var identity = JSON.parse(new TextDecoder().decode(clear));
      var list = document.createElement("dl");
      Object.keys(identity).forEach(function (name) {
        var dt = document.createElement("dt"); dt.textContent = name;
        var dd = document.createElement("dd"); dd.textContent = String(identity[name]);
        list.appendChild(dt); list.appendChild(dd);
      });
      out.appendChild(list);
    }
    out.hidden = false;
    say(root.getAttribute("data-done"));
    out.focus();
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    open().catch(function (err) { say(root.getAttribute("data-failed") + " " + err.message); });
  });
}());
