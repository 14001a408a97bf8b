// Rewrites the origin's HTML while it streams through: links to http://
// become https://, a banner is inserted at the top of <body>, elements
// with class "ad" are removed and the <title> gets a suffix.
import { httpRequest } from 'http-request';
import { createResponse } from 'create-response';
import { HtmlRewritingStream } from 'html-rewriter';

export async function responseProvider(request) {
  const page = await httpRequest(request.url.replace(/^\/[^/]+/, '/data'));
  const rewriter = new HtmlRewritingStream();
  rewriter.onElement('a[href^="http://"]', (el) => {
    el.setAttribute('href', el.getAttribute('href').replace('http://', 'https://'));
  });
  rewriter.onElement('body', (el) => el.prepend('<div class="banner">Served at the edge</div>'));
  rewriter.onElement('.ad', (el) => el.remove());
  rewriter.onText('title', (t) => t.replace(t.text + ' | edge'));
  return createResponse(page.status, { 'Content-Type': ['text/html; charset=utf-8'] }, page.body.pipeThrough(rewriter));
}
