"""A loopback Hugging Face Hub for tests: the HTTP endpoints huggingface_hub's client uses, in memory.

Standard library only (``http.server``, threaded, 127.0.0.1, port 0). Implemented (model
repositories only), as listed in shared/reference/ecosystem.md section 3:

======================================================  ===============================================
request                                                 answer
======================================================  ===============================================
``POST /api/repos/create``                              ``{"url": ...}`` (409 with the url if it exists)
``POST /api/validate-yaml``                             ``{"errors": [], "warnings": []}``
``POST /api/models/<org>/<name>/preupload/<rev>``       every file ``"uploadMode": "regular"``
``POST /api/models/<org>/<name>/commit/<rev>``          NDJSON header / file (base64) / deletedFile
``POST /api/models/<org>/<name>/branch/<branch>``       a branch from ``startingPoint`` or main
``GET /api/models/<org>/<name>[/revision/<rev>]``       ``{"id", "sha", "private", "siblings"}``
``GET /api/models/<org>/<name>/tree/<rev>[/<path>]``    ``[{"type": "file", "path", "size", "oid"}]``
``HEAD`` / ``GET /<org>/<name>/resolve/<rev>/<path>``   ``X-Repo-Commit``, ``ETag``, ``Content-Length``
missing repository, revision or file                    404 + ``X-Error-Code`` ``RepoNotFound`` /
                                                        ``RevisionNotFound`` / ``EntryNotFound``
======================================================  ===============================================

With ``required_token`` set, every request must carry ``Authorization: Bearer <token>`` (401
otherwise). :attr:`HubServer.requests` records ``(method, path)`` and :attr:`HubServer.tokens` the
bearer tokens seen, so tests can assert "no HTTP at all" (offline mode) and that tokens were sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["HubServer", "Repo"]


@dataclass
class Repo:
    """One model repository: commits are full snapshots ``{path: bytes}``."""

    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """Commit sha of a branch name or a (full) commit sha."""
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(
        self,
        status: int,
        payload: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        if raw is None:
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers=headers)

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        with self.server.hub.lock:
            self.server.hub.requests.append((self.command, urlsplit(self.path).path))
            if token:
                self.server.hub.tokens.append(token)
        required = self.server.hub.required_token
        if required is not None and token != required:
            self._error(401, None, "Invalid credentials in Authorization header")
            return False
        return True

    def _parts(self) -> list[str]:
        return [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]

    def _on_repo(self, org: str, name: str, route: Callable[..., None], *args: Any) -> None:
        """``route(repo_id, repo, *args)``, or a 404 when there is no repository ORG/NAME."""
        repo_id = f"{org}/{name}"
        repo = self.server.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
        else:
            route(repo_id, repo, *args)

    def _revision(self, repo: Repo, revision: str) -> str | None:
        """The commit of ``revision``, or None after answering 404."""
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha

    #: The actions of POST api/models/ORG/NAME/<action>/<revision>, each answered by ``_<action>``.
    _REPO_POSTS = ("preupload", "commit", "branch")

    # --- verbs --------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._authorised():
            return
        parts = self._parts()
        with self.server.hub.lock:
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                self._on_repo(parts[2], parts[3], self._api_get, parts[4:])
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._on_repo(parts[0], parts[1], self._resolve, parts[3], "/".join(parts[4:]))
            else:
                self._error(404, None, f"no route for {self.path}")

    def do_POST(self) -> None:
        if not self._authorised():
            return
        parts = self._parts()
        body = self._body()
        with self.server.hub.lock:
            if parts == ["api", "repos", "create"]:
                self._create(json.loads(body))
            elif parts == ["api", "validate-yaml"]:
                self._send(200, {"errors": [], "warnings": []})
            elif parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] in self._REPO_POSTS:
                self._on_repo(parts[2], parts[3], getattr(self, f"_{parts[4]}"), parts[5], body)
            else:
                self._error(404, None, f"no route for POST {self.path}")

    # --- routes -------------------------------------------------------------------------------
    def _create(self, payload: dict) -> None:
        org = payload.get("organization")
        name = payload["name"]
        repo_id = f"{org}/{name}" if org else name
        url = f"{self.server.hub.url}/{repo_id}"
        if repo_id in self.server.hub.repos:
            self._send(409, {"error": "You already created this model repo", "url": url})
            return
        repo = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
        sha = self.server.hub.new_sha(repo_id, "init")
        repo.commits[sha] = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
        repo.branches["main"] = sha
        self.server.hub.repos[repo_id] = repo
        self._send(200, {"url": url})

    def _preupload(self, repo_id: str, repo: Repo, revision: str, body: bytes) -> None:
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
            for f in json.loads(body)["files"]
        ]
        self._send(200, {"files": files})

    def _commit(self, repo_id: str, repo: Repo, revision: str, body: bytes) -> None:
        parent = self._revision(repo, revision)
        if parent is None:
            return
        files = dict(repo.commits[parent])
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item.get("value", {})
            if item["key"] == "file":
                if value.get("encoding") != "base64":
                    self._error(400, None, "only base64 file contents are supported")
                    return
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                files.pop(value["path"], None)
            elif item["key"] == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: c for p, c in files.items() if not p.startswith(prefix)}
            elif item["key"] != "header":
                self._error(400, None, f"unsupported commit operation {item['key']!r} (no LFS here)")
                return
        sha = self.server.hub.new_sha(repo_id, revision)
        repo.commits[sha] = files
        repo.branches[revision] = sha
        url = f"{self.server.hub.url}/{repo_id}/commit/{sha}"
        self._send(200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None})

    def _branch(self, repo_id: str, repo: Repo, branch: str, body: bytes) -> None:
        payload = json.loads(body or b"{}")
        if branch in repo.branches:
            self._error(409, None, f"Reference already exists: {branch}")
            return
        start = repo.resolve(payload.get("startingPoint") or "main")
        if start is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {payload.get('startingPoint')}")
            return
        repo.branches[branch] = start
        self._send(200, {})

    def _api_get(self, repo_id: str, repo: Repo, rest: list[str]) -> None:
        if rest and rest[0] == "tree":
            revision, path = rest[1], "/".join(rest[2:])
            sha = self._revision(repo, revision)
            if sha is None:
                return
            prefix = f"{path.rstrip('/')}/" if path else ""
            entries = [
                {"type": "file", "path": p, "size": len(c), "oid": hashlib.sha1(c).hexdigest()}
                for p, c in sorted(repo.commits[sha].items())
                if p.startswith(prefix)
            ]
            self._send(200, entries)
            return
        sha = self._revision(repo, rest[1] if rest[:1] == ["revision"] and len(rest) > 1 else "main")
        if sha is None:
            return
        self._send(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": repo.private,
                "siblings": [{"rfilename": p} for p in sorted(repo.commits[sha])],
            },
        )

    def _resolve(self, repo_id: str, repo: Repo, revision: str, path: str) -> None:
        sha = self._revision(repo, revision)
        if sha is None:
            return
        content = repo.commits[sha].get(path)
        if content is None:
            self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
            return
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
            "Content-Type": "application/octet-stream",
        }
        self._send(200, raw=content, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer


class HubServer:
    """An in-memory Hub on ``http://127.0.0.1:<port>``; use as a context manager or start/stop.

    Parameters
    ----------
    required_token : str, optional
        Demand this bearer token on every request.
    """

    def __init__(self, *, required_token: str | None = None) -> None:
        self.required_token = required_token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.tokens: list[str] = []
        self.lock = threading.Lock()
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def new_sha(self, repo_id: str, revision: str) -> str:
        self._counter += 1
        return hashlib.sha1(f"{repo_id}@{revision}#{self._counter}".encode()).hexdigest()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a repository at a branch or commit."""
        repo = self.repos[repo_id]
        return repo.commits[repo.resolve(revision)]  # type: ignore[index]

    def put_files(self, repo_id: str, files: dict[str, bytes], *, revision: str = "main") -> str:
        """Commit files directly (bypassing the client), creating the repository if needed."""
        with self.lock:
            repo = self.repos.setdefault(repo_id, Repo())
            parent = repo.resolve(revision)
            snapshot = dict(repo.commits[parent]) if parent else {}
            snapshot.update(files)
            sha = self.new_sha(repo_id, revision)
            repo.commits[sha] = snapshot
            repo.branches[revision] = sha
            return sha

    def start(self) -> HubServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.hub = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def point_client_at(monkeypatch, tmp_path, url):
    """Point huggingface_hub at ``url``, with its cache, home and token files under ``tmp_path``."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
