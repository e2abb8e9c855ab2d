"""The chat page's styles and its one script, passed to ``launch(css=..., head=...)``.

The chat's sanitizer keeps only ``class`` and ``href`` of a link, so what a link
does is in its URL fragment: ``#rag-open=`` a citation's span (the script sets a
hidden textbox, whose change event renders the document view in Python),
``#rag-copy=`` the answer's plain text (the script writes it to the clipboard). Colours are
chosen for a contrast of at least 4.5:1 on the page's backgrounds (WCAG AA).
"""

from __future__ import annotations

OPEN_PREFIX = "#rag-open="
COPY_PREFIX = "#rag-copy="

CSS = """
#chatbot .rag-answer-text { margin: 0 0 .4em 0; }
.rag-ref { color: #8a2c0d; font-weight: 600; background: none; border: 0; padding: 0 .1em;
  cursor: pointer; font-size: .8em; vertical-align: super; line-height: 1;
  text-decoration: underline; }
.dark .rag-ref { color: #ffb38a; }
.rag-ref:focus-visible, .rag-open:focus-visible, .rag-copy:focus-visible {
  outline: 2px solid #1d4ed8; outline-offset: 1px; }
#chatbot .rag-cites { margin-top: .6em; border-top: 1px solid var(--border-color-primary);
  padding-top: .4em; font-size: .92em; }
#chatbot .rag-cites-title { font-weight: 600; margin-bottom: .3em; }
#chatbot .rag-cite { margin: .4em 0 .7em 0; }
#chatbot .rag-cite-meta { color: #3d3d3d; font-size: .9em; }
.dark #chatbot .rag-cite-meta { color: #d6d6d6; }
.rag-open { background: none; border: 0; padding: 0; margin: 0; color: #1d4ed8;
  font: inherit; font-weight: 600; cursor: pointer; text-decoration: underline; text-align: left; }
.dark .rag-open { color: #9cc0ff; }
#chatbot .rag-cite blockquote { margin: .2em 0 0 0; padding: .3em .6em;
  border-left: 3px solid #b45309; color: inherit; }
#chatbot mark, #doc-view mark { background: #ffe58a; color: #000; padding: 0 .1em; }
#chatbot .rag-abstained { border-left: 4px solid #1d4ed8; padding-left: .6em; }
#chatbot .rag-abstained-head { color: #1e3a8a; font-weight: 600; margin-bottom: .3em; }
.dark #chatbot .rag-abstained-head { color: #bfd4ff; }
#chatbot .rag-abstained mark { background: #e5e7eb; }
#chatbot details.rag-cites summary { cursor: pointer; font-weight: 600; }
.rag-copy { display: inline-block; text-decoration: none; margin-top: .3em; font-size: .85em;
  color: #1f2937; background: #f3f4f6;
  border: 1px solid #6b7280; border-radius: 4px; padding: .1em .5em; cursor: pointer; }
.dark .rag-copy { color: #f3f4f6; background: #374151; }
#status { font-size: .95em; }
#doc-view .rag-doc-head { position: sticky; top: 0; background: var(--background-fill-primary);
  padding: .3em 0; border-bottom: 1px solid var(--border-color-primary); }
#doc-view .rag-doc-title { font-weight: 700; }
#doc-view .rag-doc-meta { color: #3d3d3d; font-size: .9em; }
.dark #doc-view .rag-doc-meta { color: #d6d6d6; }
#doc-view .rag-doc-body { max-height: 560px; overflow-y: auto; white-space: pre-wrap;
  line-height: 1.6; padding-right: .4em; }
#doc-view .rag-doc-h { font-weight: 700; margin-top: .6em; }
#doc-view .rag-doc-page { color: #3d3d3d; text-align: center; margin: .5em 0; }
#doc-view .rag-doc-empty { color: #3d3d3d; }
#doc-view .rag-scan { margin: .4em 0; }
#doc-view .rag-scan-page { position: relative; line-height: 0; border: 1px solid #6b7280; }
#doc-view .rag-scan-page img { width: 100%; height: auto; display: block; }
#doc-view .rag-scan-box { position: absolute; outline-offset: 2px; }
#doc-view .rag-scan-hit { background: rgba(255, 213, 0, .3); outline: 2px solid #b45309; }
#doc-view .rag-scan-unsure { outline: 2px dashed #b91c1c; background: rgba(185, 28, 28, .08); }
#doc-view .rag-scan figcaption, #doc-view .rag-scan-missing { color: #3d3d3d; font-size: .9em;
  margin-top: .2em; }
.dark #doc-view .rag-scan figcaption, .dark #doc-view .rag-scan-missing { color: #d6d6d6; }
#doc-view .rag-scan-unsure-note { color: #b91c1c; }
#doc-view .rag-doc-ocr { font-size: .8em; color: #1f2937; background: #e5e7eb;
  border-radius: 3px; padding: 0 .3em; }
#documents-table table { width: 100%; border-collapse: collapse; font-size: .92em; }
#documents-table th, #documents-table td { text-align: left; padding: .2em .5em;
  border-bottom: 1px solid var(--border-color-primary); }
"""

# Forward clicks on citations and copy buttons (see the module docstring). Capturing, so
# that the chatbot's own handlers never see them; the counter makes each click a change.
HEAD = """
<script>
(() => {
  window.ragUi = true;
  let clicks = 0;
  function setHidden(id, value) {
    const box = document.querySelector('#' + id + ' textarea, #' + id + ' input');
    if (!box) return;
    box.value = value;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }
  async function copyText(text) {
    window.ragLastCopied = text;
    try { await navigator.clipboard.writeText(text); return true; } catch (e) {
      const area = document.createElement('textarea');
      area.value = text; area.style.position = 'fixed'; area.style.left = '-9999px';
      document.body.appendChild(area); area.select();
      const ok = document.execCommand('copy'); area.remove(); return ok;
    }
  }
  const payload = (link, prefix) => {
    const href = link.getAttribute('href') || '';
    return href.startsWith(prefix) ? decodeURIComponent(href.slice(prefix.length)) : null;
  };
  document.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target : null;
    const link = target && target.closest('a[href^="#rag-"]');
    if (!link) return;
    ev.preventDefault(); ev.stopPropagation();
    const span = payload(link, '#rag-open=');
    if (span !== null) {
      setHidden('open-ref', span + '|' + (++clicks));
      return;
    }
    const text = payload(link, '#rag-copy=');
    if (text !== null) {
      const copy = link;
      copyText(text).then((ok) => {
        copy.textContent = ok ? 'Copied ✓ 已复制' : 'Copy failed';
        setTimeout(() => { copy.textContent = 'Copy · 复制'; }, 1500);
      });
    }
  }, true);
})();
</script>
"""

# After the document view renders: bring the highlighted span into view.
SCROLL_TO_HIT = """
() => { setTimeout(() => {
  const hit = document.querySelector('#doc-view mark.rag-doc-hit');
  if (hit) hit.scrollIntoView({block: 'center'});
}, 60); }
"""

# After an answer completes: when it is taller than the chat, show its start, not its end
# (on a phone the bottom of a long answer hides the answer itself).
SHOW_LATEST_START = """
() => { setTimeout(() => {
  const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
  const last = bots[bots.length - 1];
  if (!last) return;
  let box = last.parentElement;
  while (box && !(box.scrollHeight > box.clientHeight + 1
                  && /(auto|scroll)/.test(getComputedStyle(box).overflowY))) {
    box = box.parentElement;
  }
  if (!box) return;
  const top = last.getBoundingClientRect().top - box.getBoundingClientRect().top;
  if (last.getBoundingClientRect().height > box.clientHeight) box.scrollTop += top;
}, 150); }
"""
