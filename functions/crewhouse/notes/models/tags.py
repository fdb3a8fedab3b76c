"""``/tags``: the tags of a user's tasks and notes, and renaming or merging one."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crewhouse.core.tags import normalise_tags


class TagCount(BaseModel):
    tag: str
    tasks: int = Field(description="How many tasks carry the tag")
    notes: int = Field(description="How many live notes (not in the trash) carry the tag")


class TagList(BaseModel):
    items: list[TagCount] = Field(description="Every tag in use, by name. Counts follow writes within seconds "
                                              "(they are kept from the tables' streams)")


class TagRename(BaseModel):
    """Rename a tag on every task and note; naming a tag already in use merges the two."""

    model_config = ConfigDict(extra="forbid")

    to: Annotated[str, Field(min_length=1, max_length=64, description="The new name (`#` and case are dropped, "
                                                                      "as for any tag)")]

    @field_validator("to")
    @classmethod
    def _normalised(cls, value: str) -> str:
        names = normalise_tags([value])
        if not names:
            raise ValueError("a tag needs a character other than '#' and spaces")
        return names[0]


class TagRenameResult(BaseModel):
    renamed_from: str
    to: str
    tasks: int = Field(description="Tasks changed by this request")
    notes: int = Field(description="Notes changed by this request")
    complete: bool = Field(description="False when the request ran out of time with items left: send it again "
                                       "to go on (items already renamed are skipped)")


class TagReindexResult(BaseModel):
    tasks: int = Field(description="Tagged tasks put into the tag index (or found there already)")
    notes: int = Field(description="Tagged live notes put into the tag index (or found there already)")
    complete: bool = Field(description="False when the request ran out of time: send it again to go on")
