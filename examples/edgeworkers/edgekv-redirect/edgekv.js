/*
 * edgekv.js: the EdgeKV helper that EdgeWorkers bundles carry, written for
 * edgegate from the documented interface of Akamai's helper (0.6.x): the
 * same class, methods, arguments, errors and wire protocol, so bundles that
 * import Akamai's file or this one behave alike. It only uses httpRequest:
 * edgegate answers the calls to edgekv.akamai-edge-svcs.net from its
 * embedded store (scripts.edgekv), Akamai from EdgeKV.
 */
import { TextDecoderStream } from 'text-encode-transform';
import { WritableStream } from 'streams';
import { httpRequest } from 'http-request';
import { edgekv_access_tokens } from './edgekv_tokens.js';

export class EdgeKV {
  #namespace;
  #group;
  #edgekv_uri;
  #token_override;
  #num_retries_on_timeout;
  #sandbox_id;
  #sandbox_fallback;

  /**
   * new EdgeKV({namespace, group, num_retries_on_timeout, ew_request, sandbox_fallback})
   * or new EdgeKV(namespace, group).
   */
  constructor(namespace = 'default', group = 'default') {
    if (typeof namespace === 'object' && namespace !== null) {
      const o = namespace;
      this.#namespace = o.namespace || 'default';
      this.#group = o.group || 'default';
      this.#edgekv_uri = o.edgekv_uri || 'https://edgekv.akamai-edge-svcs.net';
      this.#token_override = o.token_override;
      this.#num_retries_on_timeout = o.num_retries_on_timeout || 0;
      this.#sandbox_fallback = !!o.sandbox_fallback;
      this.#sandbox_id = (o.ew_request && o.ew_request.sandboxId) || null;
    } else {
      this.#namespace = namespace;
      this.#group = group;
      this.#edgekv_uri = 'https://edgekv.akamai-edge-svcs.net';
      this.#num_retries_on_timeout = 0;
      this.#sandbox_fallback = false;
      this.#sandbox_id = null;
    }
  }

  throwError(failed, status, body) {
    throw { failed, status, body, toString() { return JSON.stringify(this); } };
  }

  validate({ namespace, group, item }) {
    if (!namespace || !/^[A-Za-z0-9_-]{1,32}$/.test(namespace)) {
      throw 'Namespace is not valid. Must be 32 characters or less, consisting of A-Z a-z 0-9 _ or -';
    }
    if (!group || !/^[A-Za-z0-9_-]{1,128}$/.test(group)) {
      throw 'Group is not valid. Must be 128 characters or less, consisting of A-Z a-z 0-9 _ or -';
    }
    if (!item || !/^[A-Za-z0-9_-]{1,512}$/.test(item)) {
      throw 'Item is not valid. Must be 512 characters or less, consisting of A-Z a-z 0-9 _ or -';
    }
  }

  tokenHeader(namespace) {
    if (this.#token_override) return { 'X-Akamai-EdgeDB-Auth': [this.#token_override] };
    const t = edgekv_access_tokens['namespace-' + namespace];
    if (!t) throw "MISSING ACCESS TOKEN. No EdgeKV Access Token defined for namespace '" + namespace + "'.";
    if ('value' in t) return { 'X-Akamai-EdgeDB-Auth': [t.value] };
    if ('reference' in t) return { 'X-Akamai-EdgeDB-Auth-Ref': [t.reference] };
    throw "MISSING ACCESS TOKEN. No EdgeKV Access Token value or reference defined for namespace '" + namespace + "'.";
  }

  #options(method, namespace, timeout, body) {
    if (timeout && (typeof timeout !== 'number' || !isFinite(timeout) || timeout <= 0 || timeout > 4000)) {
      throw 'Timeout is not valid. Must be a number greater than 0 and less than 4000.';
    }
    const o = { method, headers: { ...this.tokenHeader(namespace) } };
    if (timeout) o.timeout = timeout;
    if (body !== undefined) o.body = body;
    return o;
  }

  #uri(namespace, group, item) {
    let uri = this.#edgekv_uri + '/api/v1/namespaces/' + namespace + '/groups/' + group + '/items/' + item;
    if (this.#sandbox_id) {
      uri += '?sandboxId=' + this.#sandbox_id + (this.#sandbox_fallback ? '&sandboxFallback=true' : '');
    }
    return uri;
  }

  #request(method, { namespace = this.#namespace, group = this.#group, item, value, timeout = null } = {}) {
    this.validate({ namespace, group, item });
    const body = value === undefined ? undefined : (typeof value === 'object' ? JSON.stringify(value) : value);
    return httpRequest(this.#uri(namespace, group, item), this.#options(method, namespace, timeout, body));
  }

  async streamText(body) {
    let result = '';
    await body.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({
      write(chunk) { result += chunk; },
    }), { preventAbort: true });
    return result;
  }

  async streamJson(body) {
    return JSON.parse(await this.streamText(body));
  }

  async #handle(send, small, large, what, default_value, retries) {
    let response;
    try {
      response = await send();
    } catch (error) {
      if (retries > 0 && /subrequest to URL.*timed out/.test(String(error))) {
        return this.#handle(send, small, large, what, default_value, retries - 1);
      }
      this.throwError('FAILED ' + what, 0, String(error));
    }
    if (response.status === 200) {
      const len = response.getHeader('Content-Length');
      if (!len || len.length === 0 || Number(len[0]) >= 128000) return large(response);
      return small(response);
    }
    if (response.status === 404 && default_value !== undefined) return default_value;
    let content = '';
    try {
      content = await response.text();
      content = JSON.parse(content);
    } catch (e) { /* keep the text */ }
    this.throwError('FAILED ' + what + ': ' + response.status, response.status, content);
  }

  async getText({ default_value = null, num_retries_on_timeout = null, ...args } = {}) {
    return this.#handle(() => this.#request('GET', args), (r) => r.text(), (r) => this.streamText(r.body), 'GET TEXT',
      default_value, num_retries_on_timeout ?? this.#num_retries_on_timeout);
  }

  async getJson({ default_value = null, num_retries_on_timeout = null, ...args } = {}) {
    return this.#handle(() => this.#request('GET', args), (r) => r.json(), (r) => this.streamJson(r.body), 'GET JSON',
      default_value, num_retries_on_timeout ?? this.#num_retries_on_timeout);
  }

  async putText(args = {}) {
    return this.#handle(() => this.#request('PUT', args), (r) => r.text(), (r) => this.streamText(r.body), 'PUT', undefined, 0);
  }

  async putJson(args = {}) {
    return this.putText({ ...args, value: JSON.stringify(args.value) });
  }

  putTextNoWait(args = {}) {
    try { this.#request('PUT', args); } catch (error) { this.throwError('PUT FAILED', 0, String(error)); }
  }

  putJsonNoWait(args = {}) {
    this.putTextNoWait({ ...args, value: JSON.stringify(args.value) });
  }

  async delete(args = {}) {
    return this.#handle(() => this.#request('DELETE', args), (r) => r.text(), (r) => this.streamText(r.body), 'DELETE', undefined, 0);
  }

  deleteNoWait(args = {}) {
    try { this.#request('DELETE', args); } catch (error) { this.throwError('DELETE FAILED', 0, String(error)); }
  }
}
