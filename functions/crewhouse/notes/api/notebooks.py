"""Notes function for notebooks: create, list, get, rename or move, delete."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.notes.api import CurrentIdentity, IdempotencyKey, IfMatch, NoteId, OptionalId, Service, Settings, tagged
from crewhouse.notes.models.notebook import Notebook, NotebookCreate, NotebookPatch

router = APIRouter(tags=["notes"])


@router.post("/notebooks", status_code=201, response_model=Notebook, tags=["notebooks"],
             summary="Create a notebook (nested at most 5 levels)")
def create_notebook(body: NotebookCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                    request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Notebook:
    result = run_idempotent(settings, identity, "create-notebook", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create_notebook(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    notebook = Notebook.model_validate(result)
    response.headers["Location"] = f"/notebooks/{notebook.id}"
    tagged(response, notebook.version)
    return notebook


@router.get("/notebooks", response_model=Page[Notebook], tags=["notebooks"],
            summary="List notebooks (all, or the children of one, or the top level)")
def list_notebooks(identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)],
                   parent_id: OptionalId = None,
                   top_level: bool = False) -> Page[Notebook]:
    scope = cursor_scope(identity, "notebooks", {"parent_id": parent_id, "top_level": top_level})
    start = page_start(settings, page.cursor, scope)
    items, last = service.list_notebooks(identity, parent_id, top_level, page.limit, start)
    return Page[Notebook](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/notebooks/{notebook_id}", response_model=Notebook, tags=["notebooks"], summary="Get a notebook")
def get_notebook(notebook_id: NoteId, identity: CurrentIdentity, service: Service, response: Response) -> Notebook:
    notebook = service.get_notebook(identity, notebook_id)
    tagged(response, notebook.version)
    return notebook


@router.patch("/notebooks/{notebook_id}", response_model=Notebook, tags=["notebooks"],
              summary="Rename or move a notebook (409 into its own subtree, 422 too deep; If-Match: its ETag)")
def update_notebook(notebook_id: NoteId, body: NotebookPatch, identity: CurrentIdentity, service: Service,
                    response: Response, if_match: IfMatch = None) -> Notebook:
    notebook = service.update_notebook(identity, notebook_id, body, if_match)
    tagged(response, notebook.version)
    return notebook


@router.delete("/notebooks/{notebook_id}", status_code=204, tags=["notebooks"],
               summary="Delete a notebook (409 unless empty; ?recursive=true trashes its notes and sub-notebooks)")
def delete_notebook(notebook_id: NoteId, identity: CurrentIdentity, service: Service, recursive: bool = False,
                    if_match: IfMatch = None) -> Response:
    service.delete_notebook(identity, notebook_id, recursive=recursive, if_match=if_match)
    return Response(status_code=204)


app = create_app("Crewhouse notes: notebooks", [router])
handler = lambda_handler(app, __name__)
