from typing import Annotated

from fastapi import Depends, Request

from app.imports.sheets import Upload


async def _upload(request: Request) -> Upload:
    return Upload(data=await request.body(), content_type=request.headers.get("content-type"))


# The request body, whole, as the sheet: declare it after CurrentUser, so that a caller
# without a valid token hears 401 before anything about the file.
UploadDep = Annotated[Upload, Depends(_upload)]
