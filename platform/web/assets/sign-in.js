// Sign-in: the password is encrypted in the browser with the platform's
// SM2 public key (C1C3C2, sm-crypto's doEncrypt(…, 1)) and only the
// ciphertext is posted; the password field has no name, so it is never sent.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var form = document.getElementById('sign-in');
  if (!form) {
    return;
  }
  var status = document.getElementById('sign-in-status');
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var password = document.getElementById('password');
    var sealed = document.getElementById('password_sm2');
    fetch(form.getAttribute('data-key-url'), { credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (key) {
        sealed.value = sm2.doEncrypt(password.value, key.public_key_hex, 1);
        password.value = '';
        form.submit();
      })
      .catch(function () {
        status.textContent = form.getAttribute('data-key-error');
        status.hidden = false;
      });
  });
});
