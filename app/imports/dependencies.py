from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from app.imports.sheets import MEDIA_TYPES, Upload, unreadable

MULTIPART_MEDIA_TYPE = "multipart/form-data"
# The form field a browser sends the sheet in.
FILE_FIELD = "file"


async def _upload(request: Request) -> Upload:
    """The sheet: the whole body, or the file field of a multipart form as browsers send
    it. A form part's own type is kept when it names a sheet; otherwise (browsers say
    application/vnd.ms-excel or nothing for a CSV) its file name and content decide."""
    content_type = request.headers.get("content-type")
    body = await request.body()  # read whole first: parsing the form then reads the copy
    if (content_type or "").split(";")[0].strip().lower() != MULTIPART_MEDIA_TYPE:
        return Upload(data=body, content_type=content_type)
    try:
        form = await request.form()
    except MultiPartException as exc:
        raise unreadable(f"the multipart form cannot be read: {exc.message}") from None
    except HTTPException as exc:  # Starlette's form of MultiPartException within an app
        raise unreadable(f"the multipart form cannot be read: {exc.detail}") from None
    file = form.get(FILE_FIELD)
    if not isinstance(file, UploadFile):
        raise unreadable(
            f"a multipart upload carries the sheet as a file in the form field {FILE_FIELD!r}"
            + ("" if file is None else f" (the field {FILE_FIELD!r} is text, not a file)")
        )
    part_type = (file.content_type or "").split(";")[0].strip().lower()
    return Upload(
        data=await file.read(),
        content_type=part_type if part_type in MEDIA_TYPES else None,
        name=file.filename,
    )


# The request body, whole, as the sheet: declare it after CurrentUser, so that a caller
# without a valid token hears 401 before anything about the file.
UploadDep = Annotated[Upload, Depends(_upload)]


def upload_body(description: str, content: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that takes a file (``UploadDep``): the whole
    body in one of the media types of ``content``, or the file field of a multipart form."""
    form = {
        "type": "object",
        "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
        "required": [FILE_FIELD],
    }
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {**content, MULTIPART_MEDIA_TYPE: {"schema": form}},
        }
    }
