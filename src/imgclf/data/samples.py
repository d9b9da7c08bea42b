"""The small ants-vs-bees sample dataset that ships with imgclf (used by ``imgclf demo`` and tests)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from imgclf.errors import ImgclfError

__all__ = ["sample_dataset"]


def sample_dataset() -> Path:
    """The folder of the bundled sample dataset: ``{train,val,test}/{ants,bees}/*.jpg``."""
    folder = Path(str(resources.files("imgclf").joinpath("assets", "sample")))
    if not (folder / "train").is_dir():
        raise ImgclfError(
            f"The sample dataset is missing from this installation ('{folder}'); reinstall imgclf "
            "(pip install --force-reinstall imgclf) or pass your own dataset folder."
        )
    return folder
