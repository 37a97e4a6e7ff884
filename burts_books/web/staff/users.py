"""Staff roles from the site: everyone's account and role, searched by email; owners grant and revoke staff."""

from urllib.parse import urlencode

from ...accounts import known_as
from ..base import staff_only
from ..mixins import FlashMixin, SearchMixin


class UsersHandler(SearchMixin, FlashMixin):
    @staff_only
    async def get(self):
        query, page = self.search_arguments()
        users = await self.services.accounts.search(query, page)
        self.render("staff/users.html", users=users, query=query)


class RoleHandler(SearchMixin, FlashMixin):
    """POST staff=1 grants the staff role, staff=0 revokes it (owners only)."""

    @staff_only
    async def post(self, user_id):
        staff = self.get_body_argument("staff", "") == "1"
        user = await self.services.accounts.change_staff(self.current_user, user_id, staff)
        said = "is now staff" if staff else "is no longer staff"
        query, page = self.search_arguments()
        back = self.reverse_url("staff_users") + "?" + urlencode({"q": query, "page": page})
        self.done(f"{known_as(user)} {said}.", back)
