"""Media inputs of API requests: https URLs (SSRF-safe), data URIs and runway:// upload URIs, checked.

SSRF defence (OWASP SSRF cheat sheet): https only; a host *name*, never an IP literal; every address the
name resolves to must be globally routable (no loopback, private, link-local — which includes the cloud
metadata address 169.254.169.254 — CGNAT, multicast or reserved); the connection then goes to exactly the
address that was checked (no second DNS lookup to rebind), and redirects are refused, not followed.
Decoding defence: byte limits before reading, pixel and frame caps read from headers before decoding.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from kino.server.config import Limits

__all__ = ["MediaError", "Media", "Fetcher", "check_image", "check_video", "IMAGE_TYPES", "VIDEO_TYPES"]

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
VIDEO_TYPES = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}
PIL_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class MediaError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Media:
    data: bytes
    ext: str  # file extension to store it under
    seconds: float | None  # videos: duration


@dataclass
class Fetcher:
    limits: Limits
    uploads: Callable[[str], bytes | None]  # upload id → its bytes (this organization's, unexpired) or None
    trusted_hosts: tuple[str, ...] = ()
    ca_file: str | None = None

    def fetch(self, uri: object, field: str, kind: str) -> Media:
        """A media input's bytes, checked for `kind` ('image' or 'video')."""
        if not isinstance(uri, str) or not uri:
            raise MediaError(field, "must be a non-empty string URI (https://, data: or runway://)")
        if uri.startswith("data:"):
            data = self._data_uri(uri, field, kind)
        elif uri.startswith("runway://"):
            data = self.uploads(uri.removeprefix("runway://").removeprefix("uploads/"))
            if data is None:
                raise MediaError(field, "unknown or expired upload URI")
            if len(data) > self.limits.upload_bytes:
                raise MediaError(field, f"upload is over the {self.limits.upload_bytes} byte limit")
        elif uri.startswith("https://"):
            data = self._https(uri, field, kind)
        else:
            raise MediaError(field, "must be an https:// URL, a data: URI or a runway:// upload URI")
        if kind == "image":
            return Media(data, check_image(data, field, self.limits), None)
        return Media(data, *check_video(data, field, self.limits))

    def _data_uri(self, uri: str, field: str, kind: str) -> bytes:
        head, sep, payload = uri.partition(",")
        if not sep or not head.endswith(";base64"):
            raise MediaError(field, "data URI must be base64 encoded (data:<type>;base64,...)")
        mime = head[5:].removesuffix(";base64").lower()
        allowed = IMAGE_TYPES if kind == "image" else VIDEO_TYPES
        if mime not in allowed:
            raise MediaError(field, f"data URI type {mime!r} is not one of {sorted(allowed)}")
        limit = self.limits.image_data_uri_bytes if kind == "image" else self.limits.video_data_uri_bytes
        if len(payload) * 3 // 4 > limit:
            raise MediaError(field, f"data URI is over the {limit} byte limit")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise MediaError(field, "data URI is not valid base64") from None

    def _https(self, uri: str, field: str, kind: str) -> bytes:
        if len(uri) > self.limits.url_chars:
            raise MediaError(field, f"URL is longer than {self.limits.url_chars} characters")
        try:
            u = urllib.parse.urlsplit(uri)
            host, port = u.hostname, u.port or 443
        except ValueError:
            raise MediaError(field, "malformed URL") from None
        if not host or u.username or u.password:
            raise MediaError(field, "URL must name a host and carry no credentials")
        try:
            ipaddress.ip_address(host.strip("[]"))
            literal = True
        except ValueError:
            literal = False
        if literal:
            raise MediaError(field, "URL host must be a domain name, not an IP address")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise MediaError(field, f"cannot resolve host {host!r}") from None
        addrs = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if host not in self.trusted_hosts and (not ip.is_global or ip.is_multicast):
                raise MediaError(field, f"host {host!r} resolves to a non-public address ({ip}); refused")
            addrs.append(str(ip))
        limit = self.limits.image_url_bytes if kind == "image" else self.limits.video_url_bytes
        ctx = ssl.create_default_context(cafile=self.ca_file)
        try:
            sock = socket.create_connection((addrs[0], port), timeout=self.limits.fetch_timeout_s)  # the checked address
            conn = http.client.HTTPSConnection(host, port, timeout=self.limits.fetch_timeout_s)
            conn.sock = ctx.wrap_socket(sock, server_hostname=host)
            path = (u.path or "/") + (f"?{u.query}" if u.query else "")
            conn.request("GET", path, headers={"Host": host, "User-Agent": "kino-media-fetch", "Accept": "image/*,video/*"})
            resp = conn.getresponse()
            if 300 <= resp.status < 400:
                raise MediaError(field, f"URL answered a redirect ({resp.status}); redirects are not followed")
            if resp.status != 200:
                raise MediaError(field, f"URL answered HTTP {resp.status}")
            ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            allowed = IMAGE_TYPES if kind == "image" else VIDEO_TYPES
            if ctype not in allowed:
                raise MediaError(field, f"URL Content-Type {ctype or 'missing'!r} is not one of {sorted(allowed)}")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise MediaError(field, f"URL content is over the {limit} byte limit")
            data = resp.read(limit + 1)
            conn.close()
        except MediaError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise MediaError(field, f"could not fetch URL ({exc.__class__.__name__})") from None
        if len(data) > limit:
            raise MediaError(field, f"URL content is over the {limit} byte limit")
        return data


def check_image(data: bytes, field: str, limits: Limits) -> str:
    """JPEG/PNG/WebP within the pixel cap (read from the header before decoding), fully decodable."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        fmt = img.format
        if fmt not in PIL_FORMATS:
            raise MediaError(field, f"image format {fmt} is not supported (JPEG, PNG or WebP)")
        w, h = img.size
        if w * h > limits.image_pixels:
            raise MediaError(field, f"image is {w}x{h}, over the {limits.image_pixels}-pixel limit")
        img.load()
    except MediaError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise MediaError(field, "not a readable image (corrupt or unsupported)") from None
    return PIL_FORMATS[fmt]


def check_video(data: bytes, field: str, limits: Limits) -> tuple[str, float]:
    """A decodable video stream within the pixel and frame caps → (extension, seconds)."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.video
            if not streams:
                raise MediaError(field, "no video stream")
            st = streams[0]
            w, h = st.codec_context.width, st.codec_context.height
            if w * h > limits.video_pixels:
                raise MediaError(field, f"video is {w}x{h}, over the {limits.video_pixels}-pixel limit")
            fmt = container.format.name
            if not {"mp4", "mov", "webm", "matroska"} & set(fmt.split(",")):
                raise MediaError(field, f"container {fmt!r} is not a video file (MP4, MOV or WebM)")
            rate = float(st.average_rate or st.guessed_rate or 16)
            n = 0
            for _ in container.decode(st):
                n += 1
                if n > limits.video_frames:
                    raise MediaError(field, f"video has more than {limits.video_frames} frames")
            if n == 0:
                raise MediaError(field, "video has no decodable frames")
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError):
        raise MediaError(field, "not a readable video (corrupt or unsupported)") from None
    return ("webm" if "webm" in fmt or "matroska" in fmt else "mp4"), n / max(rate, 1e-3)
