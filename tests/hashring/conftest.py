from tests.conftest import pure_fixture, tier_fixture


tier = tier_fixture("hashring")
pure = pure_fixture("hashring")
