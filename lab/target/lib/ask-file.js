"use strict";
/** The content of a systemd ask-password request file for the pool's key. */
function askFile(id) {
  return `[Ask]\nPID=1\nSocket=/run/systemd/ask-password/sck.${id}\nAcceptCached=0\nEcho=0\nNotAfter=0\nId=zfs:rpool\nMessage=Enter key for rpool:\n`;
}
module.exports = { askFile };
