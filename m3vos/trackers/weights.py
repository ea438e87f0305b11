"""Known model checkpoints, where they are cached, and how to fetch them.

The Cutie files come from the v1.0 GitHub release of hkchengrex/Cutie; the ReVOS checkpoint
is a Google Drive file of the M3-VOS authors (fetched with the optional `gdown` package).
Downloads reuse `m3vos.utils.download.download_file` (resumable, digest-checked, atomic).

`M3VOS_WEIGHTS_URL` replaces the base URL of every file (`<base>/<file name>`), e.g. to use
a mirror or a local test server; `download_weights(name, url=...)` gives one file's URL.
This module imports no torch.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError, M3vosError

CUTIE_RELEASE_URL = "https://github.com/hkchengrex/Cutie/releases/download/v1.0"
BASE_URL_ENV = "M3VOS_WEIGHTS_URL"
GDRIVE_URL = "https://drive.google.com/uc?id={id}"


@dataclass(frozen=True)
class KnownWeights:
    """One downloadable checkpoint and the model (`build_model` kind) that loads it."""

    name: str
    model: str                      # cutie-small | cutie-base | revos
    filename: str
    description: str
    url: str | None = None          # direct HTTP(S) URL (GitHub release)
    gdrive_id: str | None = None    # Google Drive file id (needs gdown)
    md5: str | None = None          # verified digest, checked after download
    sha256: str | None = None
    md5_unverified: str | None = None  # a third-party value, shown but not enforced
    hub_id: str | None = None       # Hugging Face hub repository holding the same model

    def source_url(self) -> str:
        if self.url:
            return self.url
        return GDRIVE_URL.format(id=self.gdrive_id)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["source_url"] = self.source_url()
        return d


def _release(name: str, model: str, description: str, **digests: str) -> KnownWeights:
    return KnownWeights(name=name, model=model, filename=f"{name}.pth", description=description,
                        url=f"{CUTIE_RELEASE_URL}/{name}.pth", **digests)


_SAM2_NAMES = ("sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large",
               "sam2-tiny", "sam2-small", "sam2-base-plus", "sam2-large")


def _sam2_entry(name: str) -> KnownWeights:
    """Meta's release file of a SAM 2 model (no official digest is published: none enforced)."""
    from m3vos.trackers.sam2.variants import get_variant

    v = get_variant(name)
    return KnownWeights(name=name, model=name, filename=v.meta_filename, url=v.meta_url,
                        description=f"SAM {v.version} Hiera-{v.size} (Meta release; same "
                                    f"weights as hub {v.hub_id})", hub_id=v.hub_id)


#: Every checkpoint m3vos knows, by name.
KNOWN_WEIGHTS: dict[str, KnownWeights] = {w.name: w for w in (
    _release("cutie-small-mega", "cutie-small",
             "Cutie-small trained with MEGA (the default small model)",
             md5_unverified="6abf53b4058228babc3686274bc136cc"),
    _release("cutie-base-mega", "cutie-base",
             "Cutie-base trained with MEGA (the default base model; ReVOS starts from it)",
             md5="a6071de6136982e396851903ab4c083a"),
    _release("cutie-small-nomose", "cutie-small", "Cutie-small trained without MOSE"),
    _release("cutie-base-nomose", "cutie-base", "Cutie-base trained without MOSE"),
    _release("cutie-small-wmose", "cutie-small", "Cutie-small trained with MOSE"),
    _release("cutie-base-wmose", "cutie-base", "Cutie-base trained with MOSE"),
    KnownWeights(name="revos", model="revos", filename="mega_v4_main_training_72800.pth",
                 description="ReVOS (Cutie-base + readout fuser), the M3-VOS authors' checkpoint",
                 gdrive_id="1fItxsooXXO0VVODyxYKVFRdtZrp-HANR"),
    *(_sam2_entry(name) for name in _SAM2_NAMES),
)}

#: Short names: a model kind means its default checkpoint.
ALIASES = {"cutie-small": "cutie-small-mega", "cutie-base": "cutie-base-mega",
           "mega_v4_main_training_72800": "revos", "cutie-revos": "revos"}


def get_known(name: str) -> KnownWeights:
    """The table entry for `name` (or an alias such as `cutie-base`)."""
    key = ALIASES.get(name, name)
    if key not in KNOWN_WEIGHTS:
        raise BadInputError(f"unknown weights '{name}'",
                            hint=f"use one of {', '.join(KNOWN_WEIGHTS)} (`m3vos weights list`)")
    return KNOWN_WEIGHTS[key]


def weights_dir() -> Path:
    """`<cache>/weights`, with the cache from `M3VOS_CACHE` or the user cache folder."""
    from m3vos.utils.cache import cache_dir

    return cache_dir() / "weights"


def weights_path(name: str) -> Path:
    """Where `name` is (or would be) cached; the file may not exist."""
    return weights_dir() / get_known(name).filename


def _is_known(name: str) -> bool:
    return name in KNOWN_WEIGHTS or name in ALIASES


def resolve_weights(weights: str | os.PathLike[str] | None = None, *, default: str | None = None,
                    model: str | None = None, allow_random: bool = False,
                    required: bool = True) -> Path | None:
    """What a model loads, from what the user gave (`--weights`): the one place that decides.

    - `random` / `random:SEED`: `Path("random:SEED")` (the network gets seeded random
      parameters), when `allow_random`; a BadInputError otherwise;
    - an existing file, or anything that is not a known name: that file (it must exist);
    - a known name (`m3vos weights list`, or an alias such as `cutie-base`): its cached file,
      which must be downloaded (the error says how);
    - None: the `default` known name's cached file; without a default, None, or a
      BadInputError when `required`.

    `model` only makes the messages name the model.
    """
    from m3vos.trackers.random_weights import random_seed, spec

    who = f" for model '{model}'" if model else ""
    seed = random_seed(weights)
    if seed is not None:
        if not allow_random:
            raise BadInputError(f"--weights random: model '{model}' has no weights to randomise",
                                hint="random weights are for model trackers (cutie-*, revos, sam2*)")
        return spec(seed)
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_file() or not _is_known(str(weights)):
            if not path.is_file():
                fix = f"run `m3vos weights download {default}`" if default else "give a known name"
                raise BadInputError("weights file not found", path=path,
                                    hint=f"pass an existing checkpoint to --weights, or {fix} "
                                         "(`m3vos weights list`)")
            return path
        name = str(weights)
    elif default is not None:
        name = default
    elif required:
        raise BadInputError(f"model '{model}' needs a checkpoint", hint="pass --weights PATH")
    else:
        return None
    known = get_known(name)
    path = weights_dir() / known.filename
    if not path.is_file():
        raise BadInputError(f"weights '{known.name}'{who} are not downloaded yet", path=path,
                            hint=f"run `m3vos weights download {known.name}` (or pass --weights PATH)")
    return path


def weights_for_model(model: str, weights: str | os.PathLike[str] | None = None) -> Path:
    """The checkpoint file of a built-in model (`cutie-base`, `revos`, `sam2.1-tiny`, ...):
    `weights` (a path or a known name) when given, else the model's default checkpoint from
    the cache (`resolve_weights` with the model's name as the default)."""
    if weights is None and not _is_known(model):
        raise BadInputError(f"no default weights for model '{model}'", hint="pass --weights PATH")
    path = resolve_weights(weights, default=model, model=model)
    assert path is not None   # a default is given: never None
    return path


def load_model(model: str, path: str | os.PathLike[str], *, device: str = "cpu"):  # type: ignore[no-untyped-def]
    """Build `model` (cutie-small | cutie-base | revos) and load `path` strictly and safely
    (imports torch; see `m3vos.trackers.models`)."""
    from m3vos.trackers.models import load_model as _load

    return _load(model, path, device=device)


@dataclass(frozen=True)
class WeightsStatus:
    name: str
    model: str
    filename: str
    path: Path
    present: bool
    size: int | None
    partial: int | None = None      # bytes of an interrupted download (`<file>.part`)
    source_url: str | None = None
    hub_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def list_weights() -> list[WeightsStatus]:
    """Every known checkpoint with whether it is in the cache and its size."""
    out = []
    for w in KNOWN_WEIGHTS.values():
        path = weights_dir() / w.filename
        present = path.is_file()
        part = path.with_name(path.name + ".part")
        out.append(WeightsStatus(w.name, w.model, w.filename, path, present,
                                 path.stat().st_size if present else None,
                                 part.stat().st_size if part.is_file() else None,
                                 source_url=w.source_url(), hub_id=w.hub_id))
    return out


def download_url(name: str, url: str | None = None) -> str | None:
    """The HTTP URL to fetch `name` from: `url`, else `$M3VOS_WEIGHTS_URL/<file>`, else the
    table's; None means a Google Drive file (gdown)."""
    w = get_known(name)
    if url:
        return url
    base = os.environ.get(BASE_URL_ENV, "").strip()
    if base:
        return f"{base.rstrip('/')}/{w.filename}"
    return w.url


def download_weights(name: str, *, url: str | None = None, dest: Path | None = None,
                     progress: bool | None = None, retries: int = 5) -> Path:
    """Fetch `name` into the cache (or `dest`) and return its path; a complete, correct copy
    already there is kept. Verified digests are checked; a mismatch deletes the file."""
    w = get_known(name)
    dest = Path(dest) if dest is not None else weights_dir() / w.filename
    http_url = download_url(w.name, url)
    if http_url is not None:
        from m3vos.utils.download import download_file

        return download_file(http_url, dest, sha256=w.sha256, md5=w.md5, retries=retries,
                             progress=progress)
    return _download_gdrive(w, dest)


@dataclass(frozen=True)
class DownloadedWeights:
    """What `download_checked` fetched, and its strict-load report (None: not checked)."""

    name: str
    model: str
    path: Path
    size: int
    report: Any = None


def download_checked(name: str, *, url: str | None = None, check: bool = True,
                     progress: bool | None = None) -> DownloadedWeights:
    """`m3vos weights download`: `download_weights`, then (unless `check=False`) a strict load
    into the model. A file that fails the check (e.g. an HTML error page saved by a mirror) is
    moved aside to `<file>.bad`, so the cache never shows it as present and a rerun downloads
    again."""
    w = get_known(name)
    path = download_weights(w.name, url=url, progress=progress)
    if not check:
        return DownloadedWeights(w.name, w.model, path, path.stat().st_size)
    from m3vos.trackers.models import load_error

    try:
        report = check_weights_file(w.model, path)
        if not report.ok:
            raise load_error(report)
    except M3vosError as exc:
        bad = path.with_name(path.name + ".bad")
        try:
            os.replace(path, bad)
            where = f"moved to {bad.name}; a rerun downloads it again"
        except OSError:
            path.unlink(missing_ok=True)
            where = "deleted; a rerun downloads it again"
        raise M3vosError(f"downloaded file fails the load check ({exc.message}); {where}", path=path,
                         hint=exc.hint or "check the URL or mirror", exit_code=exc.exit_code) from None
    return DownloadedWeights(w.name, w.model, path, path.stat().st_size, report)


def _download_gdrive(w: KnownWeights, dest: Path) -> Path:
    if dest.is_file():
        return dest
    try:
        import gdown  # type: ignore[import-not-found]
    except ImportError:
        raise BadInputError(
            f"'{w.name}' is a Google Drive file and needs the gdown package",
            hint=f"pip install 'm3vos[gdrive]' (or download {w.source_url()} yourself, save it "
                 f"as {dest}, and check it with `m3vos weights check {w.name} {dest}`)") from None
    from m3vos.utils.download import DownloadError
    from m3vos.utils.atomic import atomic_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    hint = f"retry later (Drive limits downloads), or fetch {w.source_url()} in a browser"
    with atomic_path(dest) as tmp:
        try:
            got = gdown.download(id=w.gdrive_id, output=str(tmp), quiet=False)
        except Exception as exc:  # gdown raises its own types for quota / permission pages
            raise DownloadError(f"Google Drive download of '{w.name}' failed "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})",
                                path=dest, hint=hint) from None
        if not got or not Path(tmp).is_file() or Path(tmp).stat().st_size == 0:
            raise DownloadError(f"Google Drive download of '{w.name}' failed", path=dest,
                                hint=hint)
    return dest


def check_weights(name: str, path: str | Path, against: str | Path | None = None) -> Any:
    """`m3vos weights check`: the strict-load report of `path` for `name`, a model kind
    (`cutie-base`, `revos`, `sam2.1-tiny`, ...) or a known weights name (its model is used).
    `report.ok` says whether it loads; `m3vos.trackers.models.load_error(report)` is the error."""
    from m3vos.trackers.models import MODEL_KINDS
    from m3vos.trackers.sam2.variants import VARIANTS

    kind = name if name in MODEL_KINDS or name in VARIANTS else get_known(name).model
    return check_weights_file(kind, path, against=against)


def check_weights_file(kind: str, path: str | Path, against: str | Path | None = None) -> Any:
    """Strict-load report of a checkpoint for model `kind`: SAM 2 models through `transformers`
    (their own key names), the others through Cutie's code."""
    from m3vos.trackers.sam2.variants import VARIANTS

    if kind in VARIANTS:
        from m3vos.trackers.sam2.checkpoint import check_sam2_checkpoint
        from m3vos.trackers.sam2.model import ensure_engine

        ensure_engine()
        return check_sam2_checkpoint(kind, path, against=against)
    from m3vos.trackers.models import check_checkpoint

    return check_checkpoint(kind, path, against=against)
