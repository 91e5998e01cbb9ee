// Sign-in and registration: the password is encrypted in the browser with
// the platform's SM2 public key (C1C3C2, sm-crypto's doEncrypt(…, 1)) and
// only the ciphertext is posted; the password fields have no name, so the
// password itself is never sent.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var form = document.querySelector('form[data-key-url]');
  if (!form) {
    return;
  }
  var status = document.getElementById('sign-in-status');
  var say = function (text) {
    status.textContent = text;
    status.hidden = false;
  };
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var password = document.getElementById('password');
    var again = document.getElementById('password-again');
    var sealed = document.getElementById('password_sm2');
    if (again && again.value !== password.value) {
      say(form.getAttribute('data-mismatch'));
      again.focus();
      return;
    }
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
        if (again) {
          again.value = '';
        }
        form.submit();
      })
      .catch(function () {
        say(form.getAttribute('data-key-error'));
      });
  });
});
