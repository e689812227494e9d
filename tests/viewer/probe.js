// Loaded by speedscope's own #localProfilePath= hook (as bin/cli.mjs does),
// after a line that sets window.corrProbeFile = {name, base64}.
//
// It imports the file with speedscope.loadFileFromBase64, waits for the
// import to finish or fail, then asks speedscope for its own export of what
// it imported (Ctrl+S, its "Export" button), and writes the outcome into the
// page as <pre id="corr-probe" data-state="..."> for `chromium --dump-dom`:
//   data-state="imported": the text is speedscope's export (its file format)
//   data-state="alert":    speedscope refused the file (the text is its alert)
//   data-state="error":    the import threw ("Something went wrong")
(function () {
  'use strict'
  var done = false

  function report(state, text) {
    if (done) return
    done = true
    var pre = document.createElement('pre')
    pre.id = 'corr-probe'
    pre.setAttribute('data-state', state)
    pre.textContent = text
    document.body.appendChild(pre)
  }

  // speedscope tells the user about unrecognised or empty files with alert().
  window.alert = function (message) { report('alert', String(message)) }

  // Its export saves a Blob through a clicked <a download>: keep the Blob.
  var createObjectURL = URL.createObjectURL
  var blobs = {}
  URL.createObjectURL = function (blob) {
    var url = createObjectURL.call(URL, blob)
    blobs[url] = blob
    return url
  }
  var click = HTMLAnchorElement.prototype.click
  HTMLAnchorElement.prototype.click = function () {
    var blob = blobs[this.href]
    if (blob && /\.speedscope\.json$/.test(this.download)) {
      blob.text().then(function (text) { report('imported', text) })
      return
    }
    return click.call(this)
  }

  function poll() {
    if (done) return
    if (/Something went wrong/.test(document.body.textContent)) {
      report('error', document.body.textContent)
    } else if (/ - speedscope$/.test(document.title) && document.querySelector('canvas')) {
      // The title is set when the import finished; Ctrl+S exports the
      // profile group speedscope holds.
      window.dispatchEvent(new KeyboardEvent('keydown', {key: 's', ctrlKey: true, bubbles: true}))
      setTimeout(poll, 200)
      return
    }
    setTimeout(poll, 50)
  }

  var file = window.corrProbeFile
  window.speedscope.loadFileFromBase64(file.name, file.base64)
  setTimeout(poll, 0)
})()
